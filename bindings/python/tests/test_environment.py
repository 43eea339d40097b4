"""The package without NumPy, and how it finds libnn (subprocesses)."""

import os
import subprocess
import sys
import unittest

from helpers import nn, HERE, PKG_ROOT, INSTALLED

# In a child started by this file: do not start children again.
CHILD = os.environ.get("NN_TEST_CHILD") == "1"

BLOCK_NUMPY = "import sys; sys.modules['numpy'] = None\n"


def run_python(code, env_extra=None, env_drop=()):
    env = dict(os.environ)
    for k in env_drop:
        env.pop(k, None)
    env.update(env_extra or {})
    env["NN_TEST_CHILD"] = "1"
    env["PYTHONPATH"] = HERE if INSTALLED else os.pathsep.join([PKG_ROOT, HERE])
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
    @unittest.skipIf(INSTALLED, "a bundled library comes before NN_LIBRARY_PATH")
    def test_file_and_folder(self):
        lib = nn.library_path
        self.assertTrue(os.path.exists(lib), lib)
        for value in (lib, os.path.dirname(lib)):
            with self.subTest(NN_LIBRARY_PATH=value):
                p = run_python("import nn; print(nn.library_path, nn.__version__)",
                               {"NN_LIBRARY_PATH": value})
                self.assertEqual(p.returncode, 0, p.stdout)
                self.assertIn(nn.__version__, p.stdout)

    @unittest.skipIf(INSTALLED, "a bundled library comes before NN_LIBRARY_PATH")
    def test_bad_path_is_a_clear_error(self):
        p = run_python("import nn", {"NN_LIBRARY_PATH": "/nonexistent/libnn.so.0"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("NN_LIBRARY_PATH", p.stdout)

    @unittest.skipUnless(INSTALLED, "tests the pip-installed package")
    def test_installed_package_uses_its_bundled_library(self):
        pkg = os.path.dirname(os.path.abspath(nn.__file__))
        self.assertNotIn(os.path.abspath(PKG_ROOT), pkg)          # not the checkout
        self.assertEqual(os.path.dirname(os.path.abspath(nn.library_path)), pkg)
        self.assertEqual(os.path.basename(nn.library_path), "libnn.so.0")
        # No environment variable needed; NN_LIBRARY_PATH does not override it.
        p = run_python("import nn; print(nn.library_path)", env_drop=("NN_LIBRARY_PATH",))
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(p.stdout.strip(), nn.library_path)
        p = run_python("import nn; print(nn.library_path)", {"NN_LIBRARY_PATH": "/nonexistent"})
        self.assertEqual(p.stdout.strip(), nn.library_path)


@unittest.skipIf(CHILD, "already in a child process")
class TestVersionCheck(unittest.TestCase):
    """nn_version() of the loaded library is checked at import, faked through
    NN_BINDING_TEST_VERSION (the binding reads it for tests only)."""

    def test_the_real_library_matches(self):
        self.assertEqual(nn.version() // 10000, int(nn.__version__.split(".")[0]))
        self.assertEqual(nn.library_version, "%d.%d.%d" % (nn.version() // 10000,
                                                           nn.version() // 100 % 100,
                                                           nn.version() % 100))

    def test_another_major_version_is_refused(self):
        major = int(nn.__version__.split(".")[0])
        p = run_python("import nn", {"NN_BINDING_TEST_VERSION": str((major + 1) * 10000 + 203)})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ImportError: nn: %s is libnn %d.2.3, but this binding (nn %s) needs libnn %d.x"
                      % (nn.library_path, major + 1, nn.__version__, major), p.stdout)

    def test_another_minor_version_is_accepted(self):
        major = int(nn.__version__.split(".")[0])
        p = run_python("import nn; print('ok')", {"NN_BINDING_TEST_VERSION": str(major * 10000 + 9999)})
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(p.stdout.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
