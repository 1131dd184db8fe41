"""The MiniLM realism variant end to end at its smallest size (skipped without transformers or the model)."""

import pytest

pytest.importorskip("transformers")


def test_minilm_variant_runs_and_the_supervised_dictionary_controls_the_probe():
    from sparsehub.models import ModelNotInstalled
    from sparsehub_sae_supervised_eval.realism import minilm_ioi_comparison

    try:
        r = minilm_ioi_comparison(4, width=64, k=4, steps=50)
    except ModelNotInstalled as exc:
        pytest.skip(str(exc))
    assert r["n_sentences"] == 4 * 3 * 2 * 3
    assert r["probe_io_accuracy"] >= 0.9
    sup = r["supervised"]
    assert sup["sufficiency"] >= 0.95 and sup["edit_IO"][1] >= 0.9
    # the probe is linear, so patching ĥ and patching h − ĥ + E[h] add up to the clean run
    assert sup["sufficiency"] == pytest.approx(sup["necessity"], abs=1e-6)
    assert r["sae"]["sufficiency"] == pytest.approx(r["sae"]["necessity"], abs=1e-5)


def test_minilm_variant_refuses_a_bad_name_count():
    from sparsehub_sae_supervised_eval.realism import minilm_ioi_comparison

    with pytest.raises(ValueError, match="n_names"):
        minilm_ioi_comparison(2)


def test_minilm_supervised_dictionary_beats_the_sae_at_control():
    """The paper's control finding on real embeddings, the brief's margin, the function's defaults (~30 s)."""
    from sparsehub.models import ModelNotInstalled
    from sparsehub_sae_supervised_eval.realism import minilm_ioi_comparison

    try:
        r = minilm_ioi_comparison()
    except ModelNotInstalled as exc:
        pytest.skip(str(exc))
    supervised, sae = r["supervised"]["edit_IO"][1], r["sae"]["edit_IO"][1]  # success within 2 edits
    assert supervised >= 0.95
    assert sae <= supervised - 0.2
