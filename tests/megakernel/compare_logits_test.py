#!/usr/bin/env python3
# scripts/compare_logits.py, bench/zoo_match.sh's comparison, on logits made here with known answers,
# and end to end on amk-run's own .npy output: the CPU executor's teacher-forced logits of a HF
# fixture against transformers' logits stored with it. Needs numpy; exits 77 (skipped) without it.
#   python3 compare_logits_test.py SCRIPTS_DIR AMK_RUN FIXTURES_DIR
import json
import math
import pathlib
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipped")
    sys.exit(77)

SCRIPTS, AMK_RUN, FIXTURES = (pathlib.Path(a) for a in sys.argv[1:4])
del sys.argv[1:4]


def compare(hf, amk, *options):
    run = subprocess.run([sys.executable, str(SCRIPTS / "compare_logits.py"), str(hf), str(amk), *options],
                         capture_output=True, text=True)
    return run.returncode, run.stdout, run.stderr


class CompareLogits(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = pathlib.Path(self.dir.name)

    def tearDown(self):
        self.dir.cleanup()

    def save(self, name, array):
        np.save(self.path / name, np.asarray(array, dtype=np.float32))
        return self.path / name

    def test_known_errors_and_perplexities(self):
        rng = np.random.default_rng(5)
        hf = rng.normal(size=(6, 50)).astype(np.float32)
        amk = hf.copy()
        amk[3] *= 1.01  # row 3 off by 1 % in every element: relative error 0.01 there, 0 elsewhere
        sequence = [3, 14, 15, 9, 26, 5]
        code, out, err = compare(self.save("hf.npy", hf), self.save("amk.npy", amk), "--sequence",
                                 ",".join(map(str, sequence)), "--format", "json")
        self.assertEqual(code, 0, err)
        result = json.loads(out)
        self.assertAlmostEqual(result["max_rel_err"], 0.01, places=6)
        self.assertEqual(result["worst_position"], 3)
        log_probs = hf[:-1].astype(np.float64) - np.log(np.exp(hf[:-1].astype(np.float64)).sum(axis=1, keepdims=True))
        ppl = math.exp(-np.mean(log_probs[np.arange(5), sequence[1:]]))
        self.assertAlmostEqual(result["ppl_hf"], ppl, places=9)
        self.assertEqual(result["rows"], 6)
        self.assertEqual(result["argmax_agree"], 6)  # scaling a row by 1.01 keeps its argmax
        self.assertGreater(result["ppl_ratio_err"], 0)

        code, out, _ = compare(self.path / "hf.npy", self.path / "hf.npy", "--sequence", ",".join(map(str, sequence)),
                               "--format", "tsv")
        self.assertEqual(code, 0)
        fields = out.split()
        self.assertEqual(float(fields[0]), 0.0)
        self.assertEqual(float(fields[4]), 0.0)
        self.assertEqual(fields[5], "6/6")

    def test_perplexities_too_large_for_a_float_still_compare(self):
        hf = np.zeros((3, 4), dtype=np.float32)
        hf[:, 0] = 2000.0  # token 0 certain, so the sequence of 1s has a perplexity of about e^2000
        amk = hf.copy()
        code, out, err = compare(self.save("hf.npy", hf), self.save("amk.npy", amk), "--sequence", "1,1,1",
                                 "--format", "json")
        self.assertEqual(code, 0, err)
        result = json.loads(out)
        self.assertIsNone(result["ppl_hf"])  # infinite: null in JSON
        self.assertEqual(result["ppl_ratio_err"], 0.0)

    def test_refuses_mismatched_inputs(self):
        hf = self.save("hf.npy", np.zeros((4, 8)))
        code, _, err = compare(hf, self.save("short.npy", np.zeros((3, 8))), "--sequence", "1,2,3,4")
        self.assertEqual(code, 2)
        self.assertIn("short.npy has shape (3, 8) but", err)
        code, _, err = compare(hf, hf, "--sequence", "1,2,3")
        self.assertIn("the sequence has 3 tokens but the logits have 4 rows", err)
        code, _, err = compare(hf, hf, "--sequence", "1,2,3,8")
        self.assertIn("outside the vocabulary of 8", err)
        (self.path / "record.json").write_text("{}")
        code, _, err = compare(hf, hf, "--record", str(self.path / "record.json"))
        self.assertIn('no "sequence" to read', err)

    def test_amk_run_logits_match_the_hf_fixture(self):
        fixture = FIXTURES / "tiny-llama3-untied"
        if not (fixture / "expected.json").exists():
            self.skipTest("fixture absent: scripts/make_fixtures.py")
        expected = json.loads((fixture / "expected.json").read_text())
        prompt = ",".join(map(str, expected["prompt"]))
        amk = self.path / "amk.npy"
        run = subprocess.run([str(AMK_RUN), "--cpu", str(fixture), "--strategy", "splitkv", "--blocks", "5",
                              "--context", "32", "--force-tokens", prompt, "--logits-out", str(amk), "-q"],
                             capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        logits = np.load(amk)
        self.assertEqual(logits.dtype, np.float32)
        self.assertEqual(logits.shape, (8, 256))
        hf = self.save("hf.npy", expected["logits"])
        code, out, err = compare(hf, amk, "--sequence", prompt, "--format", "json")
        self.assertEqual(code, 0, err)
        result = json.loads(out)
        self.assertLess(result["max_rel_err"], 1e-5)  # fp32 weights, fp32 schedule: summation order only
        self.assertLess(result["ppl_ratio_err"], 1e-5)
        self.assertEqual(result["argmax_agree"], 8)


if __name__ == "__main__":
    unittest.main(verbosity=2)
