"""sparsehub-choice-sae: discovery through its entry point and the paper's reproduction."""

import pytest

import sparsehub_choice_sae
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("choice-sae", sparsehub_choice_sae.MutualChoiceSAE, sparsehub_choice_sae.reproduce)


def test_importing_the_plugin_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, sparsehub_choice_sae, sparsehub_choice_sae.plugin; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_choice_sae.reproduce(quick=True, seed=0)
    assert report.slug == "choice-sae"
    assert report.passed, report.table()


def test_reproduce_rejects_a_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        sparsehub_choice_sae.reproduce(seed=-1)
