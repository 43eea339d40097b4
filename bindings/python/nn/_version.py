"""The version of this binding: CMakeLists.txt project(VERSION) (checked by the CTest
test versions_in_step, with pyproject.toml)."""

VERSION = "0.1.0"
