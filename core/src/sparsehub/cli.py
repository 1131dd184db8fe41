"""The ``sparsehub`` command: list, info, repro, bench and doctor."""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

from . import __version__
from .discovery import plugins
from .errors import SparsehubError
from .method import CATEGORIES
from .progress import progress
from .registry import MethodEntry, catalog, find, get

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except SparsehubError as exc:
        print(f"sparsehub: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `sparsehub list | head`: the reader left; exit quietly like Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sparsehub", description="The sparsity research of 57 papers in one registry.")
    p.add_argument("--version", action="version", version=f"sparsehub {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ls = sub.add_parser("list", help="all catalogued methods with their implemented/installed state")
    ls.add_argument("pattern", nargs="?", help="shell wildcard on the slug, e.g. '*sae*'")
    ls.add_argument("--category", choices=CATEGORIES)
    ls.add_argument("--tag", help="a tag (wildcards allowed)")
    ls.add_argument("--structure", help="a structure such as 'n:m' or 'block' (wildcards allowed)")
    state = ls.add_mutually_exclusive_group()
    state.add_argument("--installed", action="store_true", help="only methods whose plugin is installed")
    state.add_argument("--implemented", action="store_true", help="only methods marked implemented")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(run=_cmd_list)

    info = sub.add_parser("info", help="everything the catalog and the installed plugin say about a method")
    info.add_argument("slug")
    info.set_defaults(run=_cmd_info)

    rp = sub.add_parser("repro", help="run plugins' reproductions and print the claims table")
    rp.add_argument("slugs", nargs="*", metavar="SLUG")
    rp.add_argument("--all", action="store_true", help="every installed plugin")
    rp.add_argument("--full", action="store_true", help="the larger, paper-style run (quick=False)")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--json", nargs="?", const="-", metavar="PATH", help="write the reports as JSON (stdout if no PATH)")
    rp.add_argument("--plot", metavar="DIR", help="write each report's figures as PNG into DIR")
    rp.set_defaults(run=_cmd_repro)

    bn = sub.add_parser("bench", help="time a method or backend against its anchors (ratios, one process)")
    bn.add_argument("name", help="a method slug, a backend name such as 'numba', or a core benchmark "
                    "('global-topk', 'masked-training')")
    bn.add_argument("--full", action="store_true", help="larger sizes (quick=False)")
    bn.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    bn.add_argument("--json", metavar="PATH", help="write results and machine facts as JSON")
    bn.set_defaults(run=_cmd_bench)

    dr = sub.add_parser("doctor", help="versions, backends, kernels, formats and plugin load errors")
    dr.set_defaults(run=_cmd_doctor)
    return p


# -- list / info ---------------------------------------------------------------------------


def _state(entry: MethodEntry, installed: set[str], broken: dict[str, str]) -> str:
    if entry.slug in installed:
        return "installed"
    if entry.slug in broken:
        return "broken"
    return "-"


def _cmd_list(args: argparse.Namespace) -> int:
    entries = find(args.pattern, category=args.category, tag=args.tag, structure=args.structure,
                   status="implemented" if args.implemented else None,
                   installed=True if args.installed else None)
    found = plugins()
    installed, broken = set(found.methods()), found.errors
    if args.json:
        rows = [dict(_entry_dict(e), installed=_state(e, installed, broken)) for e in entries]
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'#':>2}  {'slug':<32} {'category':<15} {'status':<11} {'installed':<9}  title")
    for e in entries:
        title = e.title if len(e.title) <= 60 else e.title[:57] + "..."
        print(f"{e.number:>2}  {e.slug:<32} {e.category:<15} {e.status:<11} "
              f"{_state(e, installed, broken):<9}  {title}")
    n_impl = sum(e.status == "implemented" for e in entries)
    n_inst = sum(e.slug in installed for e in entries)
    print(f"\n{len(entries)} methods listed: {n_impl} implemented, {n_inst} installed here.")
    return 0


def _entry_dict(e: MethodEntry) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in e.__dict__.items()}


def _cmd_info(args: argparse.Namespace) -> int:
    slug = args.slug
    from .registry import _entry  # the catalog entry, whether or not installed

    e = _entry(slug)
    found = plugins()
    lines = [
        f"{e.slug} (#{e.number}) — {e.title}",
        f"  paper:      {e.paper}  {e.url if e.url != e.paper else ''}".rstrip(),
        f"  category:   {e.category}",
        f"  status:     {e.status}",
        f"  summary:    {e.summary}",
        f"  tags:       {', '.join(e.tags) or '-'}",
        f"  structures: {', '.join(e.structures) or '-'}",
        f"  anchors:    {', '.join(e.anchors) or '-'}",
        f"  package:    {e.package}  (import {e.module})",
    ]
    if slug in found.methods():
        m = get(slug)
        lo = found.loaded.get(m.plugin)
        version = f" {lo.version}" if lo and lo.version else ""
        lines += [
            f"  installed:  yes — plugin {m.plugin!r}{version}",
            f"  entry:      {m.spec.entry}",
            f"  reproduce:  {m.spec.reproduce}   (sparsehub repro {slug})",
            f"  bench:      {m.spec.bench or '-'}" + (f"   (sparsehub bench {slug})" if m.spec.bench else ""),
        ]
    elif slug in found.errors:
        lines.append(f"  installed:  BROKEN — {found.errors[slug]}")
    else:
        lines.append(f"  installed:  no — {e.pip_install}")
    print("\n".join(lines))
    return 0


# -- repro ---------------------------------------------------------------------------------


def _cmd_repro(args: argparse.Namespace) -> int:
    from .repro import Claim, Report

    installed = plugins().methods()
    if args.all:
        slugs = [e.slug for e in catalog().values() if e.slug in installed]
        slugs += sorted(s for s in installed if s not in catalog())
    else:
        slugs = list(args.slugs)
    if not slugs:
        if args.all:
            print("No installed plugin implements a method yet; `sparsehub list` shows the catalog.")
            return 0
        print("sparsehub repro: give SLUG... or --all", file=sys.stderr)
        return 2
    methods = [get(s) for s in slugs]  # fail fast on unknown or uninstalled slugs
    reports: list[Report] = []
    for m in progress(methods, desc="repro", label=lambda m: m.slug):
        start = time.perf_counter()
        try:
            report = m.reproduce(quick=not args.full, seed=args.seed)
        except Exception as exc:  # one broken reproduction must not hide the others
            report = Report(m.slug, [Claim(f"reproduce() raised {type(exc).__name__}: {exc}", "error",
                                           float("nan"), None, "runs without error", False)],
                            quick=not args.full, seed=args.seed, notes=traceback.format_exc())
        report.seconds = report.seconds or time.perf_counter() - start
        reports.append(report)
    out = sys.stderr if args.json == "-" else sys.stdout
    for r in reports:
        print(f"\n## {r.slug} ({'quick' if r.quick else 'full'}, seed {r.seed}, {r.seconds:.1f} s): "
              f"{'PASS' if r.passed else 'FAIL'}\n", file=out)
        print(r.table(), file=out)
        if r.notes and not r.passed:
            print(f"\n{r.notes}", file=out)
    n_pass = sum(r.passed for r in reports)
    n_claims = sum(len(r.claims) for r in reports)
    n_claims_ok = sum(c.passed for r in reports for c in r.claims)
    print(f"\n{n_pass}/{len(reports)} reproductions passed ({n_claims_ok}/{n_claims} claims).", file=out)
    if args.plot:
        for r in reports:
            for path in r.plot(args.plot):
                print(f"figure: {path}", file=out)
    if args.json:
        text = json.dumps([json.loads(r.to_json()) for r in reports], indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as fh:
                fh.write(text)
    return 0 if n_pass == len(reports) else 1


# -- bench ---------------------------------------------------------------------------------


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import dump_json, format_results, machine_info
    from .method import load_object

    try:
        thread_counts = tuple(int(t) for t in args.threads.split(","))
        if not thread_counts or min(thread_counts) < 1:
            raise ValueError
    except ValueError:
        print(f"sparsehub bench: --threads={args.threads!r} is not allowed: expected positive ints "
              "separated by commas, e.g. 1,2", file=sys.stderr)
        return 2
    from .backend import backends
    from .benchmarks import CORE_BENCHMARKS

    known_backends = backends()
    if args.name in CORE_BENCHMARKS:
        fn = load_object(CORE_BENCHMARKS[args.name])
    elif args.name in known_backends:
        ref = getattr(known_backends[args.name], "bench", None)
        if not ref:
            print(f"sparsehub bench: backend {args.name!r} provides no benchmark", file=sys.stderr)
            return 2
        fn = load_object(ref)
    else:
        fn = get(args.name).spec.load_bench()
        if fn is None:
            print(f"sparsehub bench: method {args.name!r} provides no benchmark", file=sys.stderr)
            return 2
    results = fn(quick=not args.full, threads=thread_counts)
    info = machine_info()
    print(f"machine: {info}")
    print(format_results(results))
    if args.json:
        dump_json(results, args.json)
        print(f"written: {args.json}")
    return 0


# -- doctor --------------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cmd_doctor(args: argparse.Namespace) -> int:
    found = plugins()
    print(f"sparsehub {__version__} on Python {platform.python_version()} ({platform.machine()})")
    for dist in ("numpy", "scipy", "pluggy", "torch", "numba", "safetensors", "threadpoolctl", "matplotlib"):
        print(f"  {dist:<14} {_version(dist)}")

    print("\nplugins:")
    for lp in found.loaded.values():
        print(f"  {lp.name:<32} {lp.distribution or '-'} {lp.version or ''}  ({lp.module})")
    if not found.loaded:
        print("  (none installed)")

    from .backend import backends, kernels

    print("\nbackends:")
    for _, b in sorted(backends().items(), key=lambda kv: -kv[1].priority):
        try:
            print(f"  {b.describe()}")
        except Exception as exc:  # a broken probe is itself a finding of the doctor
            print(f"  {b.name}: describe() raised {type(exc).__name__}: {exc}")
    print("\nkernels (op / backend / algorithm):")
    for k in sorted(kernels(), key=lambda k: (k.op, k.backend, k.algorithm)):
        print(f"  {k.op:<14} {k.backend:<12} {k.algorithm:<14} {k.description}")

    from .tensor import FORMATS

    extra = [f.name for f in found.formats()]
    print(f"\nformats: {', '.join(FORMATS)}" + (f"; from plugins: {', '.join(extra)}" if extra else ""))

    cat = catalog()
    methods = found.methods()
    n_impl = sum(e.status == "implemented" for e in cat.values())
    print(f"\ncatalog: {len(cat)} methods, {n_impl} implemented, {len(methods)} installed")
    unknown = sorted(set(methods) - set(cat))
    if unknown:
        print(f"  installed but not in the catalog: {', '.join(unknown)}")
    if found.errors:
        print("\nplugin load errors:")
        for name, reason in found.errors.items():
            print(f"  {name}: {reason}")
        return 1
    print("\nno plugin load errors")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
