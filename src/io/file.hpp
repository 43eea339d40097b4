// Whole-file reads and crash-safe whole-file writes. Errors throw Errc::IO.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nn {

// A file descriptor, closed on scope exit (-1: none).
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
  ~Fd() { reset(); }
  void reset();
};

// A regular file open for reading at offsets (for loaders that read a
// header first and then each piece straight to where it goes). Opening
// refuses anything but a regular file (a FIFO is refused without waiting
// for a writer). Errors throw Errc::IO naming the file.
class InputFile {
 public:
  InputFile(const std::string &path, const char *what);
  uint64_t size() const { return size_; }  // when it was opened
  // Reads n bytes at offset into dst; returns how many there were (fewer
  // only at the end of the file).
  size_t read_some(uint64_t offset, void *dst, size_t n) const;
  // Reads exactly n bytes at offset into dst; a file that ends before
  // (it shrank after being opened) is an error.
  void read_at(uint64_t offset, void *dst, size_t n) const;

 private:
  Fd fd_;
  uint64_t size_ = 0;
  std::string path_;
  const char *what_;
};

// Reads the whole file (regular files only). When `check_prefix` is set it
// runs first with the file's first min(size, prefix_bytes) bytes and its
// size, before the rest is read (or allocated): it may throw to refuse the
// file after reading only its prefix.
std::vector<uint8_t> read_file(const std::string &path, const char *what, size_t prefix_bytes = 0,
                               const std::function<void(const uint8_t *, uint64_t)> &check_prefix = {});

// Replaces the file at path with data, crash-safely (nn.h, nn_model_save):
//  * symlinks are followed (up to 40); the final target is what is replaced;
//  * a target that exists and is not a regular file (FIFO, device, socket,
//    directory) is refused (Errc::IO) and left untouched;
//  * the data goes to a temporary file in the target's folder (an unnamed
//    O_TMPFILE where the file system has one, else "<name>.tmp.XXXXXX",
//    shortened with a hash so that it never exceeds NAME_MAX), is fsync'ed,
//    gets the target's permission bits (a new file: 0666 & ~umask), and is
//    renamed over the target; then the folder is fsync'ed;
//  * a temporary file left by a killed save of the same target is removed
//    (one being written by a live save holds a lock and is kept);
//  * on failure the old file is intact and the temporary file is removed;
//    the message names the file the failing step was about.
void write_file_atomic(const std::string &path, const void *data, size_t len, const char *what);

}  // namespace nn
