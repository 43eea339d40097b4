#include "io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace nn {

namespace {

// Closes a descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string dir_of(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::vector<uint8_t> read_file(const std::string &path, const char *what) {
  Fd f;
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
  // refused as not a regular file); it changes nothing for regular files.
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (f.fd < 0) fail(Errc::IO, "%s: cannot open \"%s\": %s", what, path.c_str(), std::strerror(errno));
  struct stat st;
  if (::fstat(f.fd, &st) != 0) fail(Errc::IO, "%s: cannot stat \"%s\": %s", what, path.c_str(), std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(Errc::IO, "%s: \"%s\" is not a regular file", what, path.c_str());
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    ssize_t r = ::read(f.fd, data.data() + got, data.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(Errc::IO, "%s: cannot read \"%s\": %s", what, path.c_str(), std::strerror(errno));
    if (r == 0) break;  // the file shrank meanwhile
    got += static_cast<size_t>(r);
  }
  data.resize(got);
  return data;
}

void write_file_atomic(const std::string &path, const void *data, size_t len, const char *what) {
  if (path.empty()) fail(Errc::IO, "%s: the path is empty", what);
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  Fd f;
  f.fd = ::mkstemp(name.data());
  if (f.fd < 0) fail(Errc::IO, "%s: cannot create a temporary file next to \"%s\": %s", what, path.c_str(), std::strerror(errno));
  auto give_up = [&](const char *step) {
    int err = errno;
    ::close(f.fd);
    f.fd = -1;
    ::unlink(name.data());
    fail(Errc::IO, "%s: cannot %s \"%s\": %s", what, step, path.c_str(), std::strerror(err));
  };
  const char *p = static_cast<const char *>(data);
  size_t left = len;
  while (left > 0) {
    ssize_t w = ::write(f.fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) give_up("write");
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::fchmod(f.fd, 0644) != 0) give_up("set permissions of");
  if (::fsync(f.fd) != 0) give_up("flush");
  if (::close(f.fd) != 0) {
    f.fd = -1;
    int err = errno;
    ::unlink(name.data());
    fail(Errc::IO, "%s: cannot close \"%s\": %s", what, path.c_str(), std::strerror(err));
  }
  f.fd = -1;
  if (::rename(name.data(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(name.data());
    fail(Errc::IO, "%s: cannot replace \"%s\": %s", what, path.c_str(), std::strerror(err));
  }
  Fd dir;
  dir.fd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir.fd >= 0) ::fsync(dir.fd);  // best effort: the rename itself succeeded
}

}  // namespace nn
