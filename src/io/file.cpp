#include "io/file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/error.hpp"

namespace nn {

void Fd::reset() {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

namespace {

std::string dir_of(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

uint64_t fnv1a(const std::string &s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

constexpr const char kTmpInfix[] = ".tmp.";  // "<stem>.tmp.XXXXXX"
constexpr size_t kRandomChars = 6;
constexpr size_t kTmpSuffix = sizeof(kTmpInfix) - 1 + kRandomChars;  // 11

// The part of the temporary names before ".tmp.XXXXXX": the file's own name,
// or, when that would push the temporary name past NAME_MAX, a prefix of it
// and a hash of the whole name.
std::string tmp_stem(const std::string &base) {
  if (base.size() + kTmpSuffix <= NAME_MAX) return base;
  char hash[18];
  std::snprintf(hash, sizeof hash, "~%016llx", static_cast<unsigned long long>(fnv1a(base)));
  return base.substr(0, NAME_MAX - kTmpSuffix - 17) + hash;
}

std::string random_chars() {
  static std::atomic<uint64_t> counter{0};
  uint64_t x = fnv1a(std::to_string(::getpid()) + ":" +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ":" +
                     std::to_string(counter.fetch_add(1)));
  static const char kAlpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (size_t i = 0; i < kRandomChars; ++i) {
    s += kAlpha[x % 62];
    x /= 62;
  }
  return s;
}

// Follows symlinks (at most 40, as the kernel) to the file a save replaces.
std::string resolve_target(const std::string &path, const char *what) {
  std::string p = path;
  for (int hops = 0;; ++hops) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    if (hops == 40) fail(Errc::IO, "%s: cannot save to \"%s\": too many levels of symbolic links", what, path.c_str());
    std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : PATH_MAX) + 1);
    ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size());
    if (n < 0 || static_cast<size_t>(n) >= buf.size())
      fail(Errc::IO, "%s: cannot read the symbolic link \"%s\": %s", what, p.c_str(),
           n < 0 ? std::strerror(errno) : "it changed while being read");
    std::string target(buf.data(), static_cast<size_t>(n));
    p = (target[0] == '/' || target.empty()) ? target : dir_of(p) + "/" + target;
  }
}

// Removes "<stem>.tmp.XXXXXX" files in dir that no live save holds (a save
// keeps an exclusive flock on its temporary file until it is renamed).
void remove_stale_temporaries(const std::string &dir, const std::string &stem) {
  DIR *d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const std::string prefix = stem + kTmpInfix;
  while (struct dirent *e = ::readdir(d)) {
    const size_t len = std::strlen(e->d_name);
    if (len != prefix.size() + kRandomChars || std::strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0)
      continue;
    Fd f(::openat(::dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    struct stat st;
    if (f.fd < 0 || ::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::flock(f.fd, LOCK_EX | LOCK_NB) != 0) continue;  // a live save's
    // Still the file we locked (not renamed into place meanwhile)?
    struct stat now;
    if (::fstatat(::dirfd(d), e->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino &&
        now.st_dev == st.st_dev)
      ::unlinkat(::dirfd(d), e->d_name, 0);
  }
  ::closedir(d);
}

bool write_all(int fd, const void *data, size_t len) {
  const char *p = static_cast<const char *>(data);
  while (len > 0) {
    ssize_t w = ::write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return false;
    }
    p += w;
    len -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

InputFile::InputFile(const std::string &path, const char *what) : path_(path), what_(what) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
  // refused as not a regular file); it changes nothing for regular files.
  fd_.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_.fd < 0) fail(Errc::IO, "%s: cannot open \"%s\": %s", what, path.c_str(), std::strerror(errno));
  struct stat st;
  if (::fstat(fd_.fd, &st) != 0) fail(Errc::IO, "%s: cannot stat \"%s\": %s", what, path.c_str(), std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(Errc::IO, "%s: \"%s\" is not a regular file", what, path.c_str());
  size_ = static_cast<uint64_t>(st.st_size);
}

size_t InputFile::read_some(uint64_t offset, void *dst, size_t n) const {
  size_t got = 0;
  while (got < n) {
    // At most 1 GiB per call (Linux moves at most 0x7ffff000 bytes per read).
    const size_t want = n - got < (size_t{1} << 30) ? n - got : (size_t{1} << 30);
    ssize_t r = ::pread(fd_.fd, static_cast<uint8_t *>(dst) + got, want, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(Errc::IO, "%s: cannot read \"%s\": %s", what_, path_.c_str(), std::strerror(errno));
    if (r == 0) break;  // the end of the file
    got += static_cast<size_t>(r);
  }
  return got;
}

void InputFile::read_at(uint64_t offset, void *dst, size_t n) const {
  if (read_some(offset, dst, n) != n)
    fail(Errc::IO, "%s: cannot read \"%s\": it ends before byte %llu (it shrank while being read)", what_,
         path_.c_str(), static_cast<unsigned long long>(offset + n));
}

std::vector<uint8_t> read_file(const std::string &path, const char *what, size_t prefix_bytes,
                               const std::function<void(const uint8_t *, uint64_t)> &check_prefix) {
  InputFile in(path, what);
  const uint64_t size = in.size();
  size_t got = 0;
  std::vector<uint8_t> data;
  if (check_prefix) {
    // The prefix first: a hostile header length is refused before the body
    // is read or allocated.
    data.resize(static_cast<size_t>(size < prefix_bytes ? size : prefix_bytes));
    got = in.read_some(0, data.data(), data.size());
    check_prefix(data.data(), got < data.size() ? got : size);
    if (got < data.size()) {
      data.resize(got);
      return data;
    }
  }
  data.resize(static_cast<size_t>(size));
  got += in.read_some(got, data.data() + got, data.size() - got);
  data.resize(got);
  return data;
}

void write_file_atomic(const std::string &path, const void *data, size_t len, const char *what) {
  if (path.empty()) fail(Errc::IO, "%s: the path is empty", what);
  const std::string target = resolve_target(path, what);
  // "\"a\"" or "\"a\" (the target of the symbolic link \"b\")" for messages.
  const std::string named =
      target == path ? "\"" + path + "\"" : "\"" + target + "\" (the target of the symbolic link \"" + path + "\")";
  struct stat st;
  bool exists = false;
  if (::stat(target.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      fail(Errc::IO, "%s: %s is not a regular file (%s); only regular files are replaced", what, named.c_str(),
           S_ISDIR(st.st_mode)    ? "a directory"
           : S_ISFIFO(st.st_mode) ? "a FIFO"
           : S_ISCHR(st.st_mode)  ? "a character device"
           : S_ISBLK(st.st_mode)  ? "a block device"
           : S_ISSOCK(st.st_mode) ? "a socket"
                                  : "not a regular file");
    exists = true;
  } else if (errno != ENOENT) {
    fail(Errc::IO, "%s: cannot stat %s: %s", what, named.c_str(), std::strerror(errno));
  }
  const std::string dir = dir_of(target), stem = tmp_stem(base_of(target));
  remove_stale_temporaries(dir, stem);

  Fd f;
  std::string tmp;  // the temporary file's name, once it has one
  auto fail_step = [&](const char *step, const std::string &file) {
    const int err = errno;
    f.reset();
    if (!tmp.empty()) ::unlink(tmp.c_str());
    fail(Errc::IO, "%s: cannot %s %s: %s", what, step, file.c_str(), std::strerror(err));
  };
  auto tmp_named = [&] { return "\"" + tmp + "\" (the temporary file for " + named + ")"; };
  auto finish_content = [&](const std::string &file) {
    if (!write_all(f.fd, data, len)) fail_step("write", file);
    if (exists && ::fchmod(f.fd, st.st_mode & 07777) != 0) fail_step("set the permissions of", file);
    if (::fsync(f.fd) != 0) fail_step("flush", file);
  };

  bool linked = false;
#ifdef O_TMPFILE
  // An unnamed file: a kill before it is linked leaves nothing behind. The
  // lock is taken before it gets a name, so no other save removes it.
  f.fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);  // 0666 & ~umask
  if (f.fd >= 0) {
    ::flock(f.fd, LOCK_EX);
    const std::string unnamed = "a temporary file in \"" + dir + "\" (for " + named + ")";
    finish_content(unnamed);
    const std::string proc = "/proc/self/fd/" + std::to_string(f.fd);
    for (int attempt = 0; attempt < 100 && !linked; ++attempt) {
      tmp = dir + "/" + stem + kTmpInfix + random_chars();
      if (::linkat(f.fd, "", AT_FDCWD, tmp.c_str(), AT_EMPTY_PATH) == 0 ||
          ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        linked = true;
      } else if (errno != EEXIST) {
        break;  // no way to name it here: write a named temporary file instead
      }
    }
    if (!linked) {
      tmp.clear();
      f.reset();
    }
  }
#endif
  if (!linked) {
    for (int attempt = 0; attempt < 100 && f.fd < 0; ++attempt) {
      tmp = dir + "/" + stem + kTmpInfix + random_chars();
      f.fd = ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
      if (f.fd < 0 && errno != EEXIST) {
        const int err = errno;
        const std::string file = tmp;
        tmp.clear();
        errno = err;
        fail_step("create the temporary file", "\"" + file + "\" (for " + named + ")");
      }
      if (f.fd < 0) continue;
      // Between its creation and this lock, a concurrent save of the same
      // path may have taken the file for a stale one and removed it (it
      // removes only what it could lock): then try another name.
      ::flock(f.fd, LOCK_EX);
      struct stat mine;
      if (::fstat(f.fd, &mine) != 0 || mine.st_nlink == 0) f.reset();
    }
    if (f.fd < 0) {
      tmp.clear();
      fail_step("create a temporary file", "in \"" + dir + "\" (for " + named + ")");
    }
    finish_content(tmp_named());
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) fail_step("rename the temporary file over", named);
  tmp.clear();  // it is the target now
  f.reset();    // unlocks
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd >= 0) ::fsync(d.fd);  // best effort: the rename itself succeeded
}

}  // namespace nn
