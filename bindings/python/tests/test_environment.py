"""The package without NumPy, and how it finds libnn (subprocesses)."""

import os
import subprocess
import sys
import unittest

from helpers import nn, HERE, PKG_ROOT

# In a child started by this file: do not start children again.
CHILD = os.environ.get("NN_TEST_CHILD") == "1"

BLOCK_NUMPY = "import sys; sys.modules['numpy'] = None\n"


def run_python(code, env_extra=None, env_drop=()):
    env = dict(os.environ)
    for k in env_drop:
        env.pop(k, None)
    env.update(env_extra or {})
    env["NN_TEST_CHILD"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([PKG_ROOT, HERE])
    return subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)


@unittest.skipIf(CHILD, "already in a child process")
class TestWithoutNumpy(unittest.TestCase):
    def test_whole_suite_without_numpy(self):
        code = BLOCK_NUMPY + (
            "import unittest\n"
            "import nn\n"
            "assert not nn.has_numpy()\n"
            "suite = unittest.defaultTestLoader.discover(%r)\n"
            "r = unittest.TextTestRunner(verbosity=1).run(suite)\n"
            "sys.exit(0 if r.wasSuccessful() and r.testsRun > 30 else 1)\n" % HERE)
        p = run_python(code)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_no_numpy_api(self):
        code = BLOCK_NUMPY + (
            "import nn\n"
            "m = nn.Model.mlp([2, 2])\n"
            "p = m.predict([[1.0, 2.0]])\n"
            "assert isinstance(p, list) and len(p) == 1 and len(p[0]) == 2, p\n"
            "t = nn.Tensor([[1, 2], [3, 4]])\n"
            "try:\n"
            "    t.numpy()\n"
            "    raise SystemExit('numpy() worked without numpy')\n"
            "except ImportError:\n"
            "    pass\n"
            "assert (t @ t.T).tolist() == [[5, 11], [11, 25]]\n"
            "print('ok')\n")
        p = run_python(code)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(p.stdout.strip(), "ok")


@unittest.skipIf(CHILD, "already in a child process")
class TestLibraryDiscovery(unittest.TestCase):
    def test_file_and_folder(self):
        lib = nn.library_path
        self.assertTrue(os.path.exists(lib), lib)
        for value in (lib, os.path.dirname(lib)):
            with self.subTest(NN_LIBRARY_PATH=value):
                p = run_python("import nn; print(nn.library_path, nn.__version__)",
                               {"NN_LIBRARY_PATH": value})
                self.assertEqual(p.returncode, 0, p.stdout)
                self.assertIn(nn.__version__, p.stdout)

    def test_bad_path_is_a_clear_error(self):
        p = run_python("import nn", {"NN_LIBRARY_PATH": "/nonexistent/libnn.so.0"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("NN_LIBRARY_PATH", p.stdout)


if __name__ == "__main__":
    unittest.main()
