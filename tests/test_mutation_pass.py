"""`tools.mutation_pass`: a planted bug is caught or survives as the tests say, and the file is always restored."""

from __future__ import annotations

import os

from tools.mutation_pass import MUTANTS, ROOT, Mutant, run_mutant


def test_a_mutant_is_caught_survives_or_is_stale_and_the_file_is_restored(tmp_path):
    (tmp_path / "prices.py").write_text("def with_tax(price):\n    return price * 1.2\n\n\ndef label(price):\n"
                                        "    return f'{price:.2f}'\n")
    (tmp_path / "test_prices.py").write_text("from prices import with_tax\n\n\ndef test_with_tax():\n"
                                             "    assert with_tax(10) == 12\n")
    source = (tmp_path / "prices.py").read_text()
    caught = run_mutant(Mutant("tax", "prices.py", "price * 1.2", "price * 1.1", ("test_prices.py",)),
                        root=str(tmp_path))
    assert caught.result == "caught" and caught.failed_tests == ["test_prices.py::test_with_tax"]
    survived = run_mutant(Mutant("label", "prices.py", "{price:.2f}", "{price:.1f}", ("test_prices.py",)),
                          root=str(tmp_path))
    assert survived.result == "survived"
    stale = run_mutant(Mutant("gone", "prices.py", "price * 2", "price * 3", ("test_prices.py",)), root=str(tmp_path))
    assert stale.result == "stale"
    assert (tmp_path / "prices.py").read_text() == source


def test_every_mutant_in_the_catalogue_applies_once_to_todays_code():
    for mutant in MUTANTS:
        text = open(os.path.join(ROOT, mutant.path)).read()
        assert text.count(mutant.original) == 1 and mutant.mutated != mutant.original, mutant.name
        assert all(os.path.exists(os.path.join(ROOT, test.split("::")[0])) for test in mutant.tests), mutant.name
