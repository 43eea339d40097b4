#include "core/tensor.hpp"

#include <cstdint>
#include <cstdlib>
#include <limits>

#include <sys/mman.h>

#include "core/ops.hpp"

namespace nn {
namespace {

// Allocates std::allocate_shared's block (control block + Storage) with
// `extra` bytes after it, 64-byte aligned, and reports where they start: a
// CPU tensor costs one allocation instead of two.
//  - Small blocks: malloc (glibc serves these from its per-thread cache;
//    aligned_alloc always takes the slow path), aligned by hand, the pointer
//    to free stored in the 8 bytes before the aligned block.
//  - Blocks of kMapBytes or more (a large model's parameters): their own
//    anonymous mapping, as glibc makes for them anyway, asked for transparent
//    huge pages (first touching 100 MB then costs 50 page faults, not 25,600;
//    the system's THP settings decide).
//  - `zeroed`: zero-filled memory (calloc; a mapping is zero already) with
//    no pass over it: large blocks are fresh pages zeroed when first touched.
//  - kReadSlack readable bytes after the data: a kernel may load a whole
//    64-byte vector that starts inside it and use only the lanes inside (the
//    one-row matvec chain, cpu_vecmath.cpp, reads Linear weights so).
template <class T>
struct TailAlloc {
  using value_type = T;
  static constexpr size_t kMapBytes = size_t{32} << 20;  // glibc's largest mmap threshold
  static constexpr size_t kReadSlack = 64;
  // bytes: block + 64 stays in glibc's tcache range (malloc of at most 1024)
  static constexpr size_t kSmall = 896 + kReadSlack;
  size_t extra;
  void **tail;
  bool zeroed;
  TailAlloc(size_t e, void **t, bool z) : extra(e), tail(t), zeroed(z) {}
  template <class U>
  TailAlloc(const TailAlloc<U> &o) : extra(o.extra), tail(o.tail), zeroed(o.zeroed) {}
  static size_t up64(size_t n) { return (n + 63) & ~size_t{63}; }
  size_t total(size_t n) const { return up64(n * sizeof(T)) + up64(extra > 0 ? extra : 1) + kReadSlack; }
  bool mapped(size_t n) const { return total(n) >= kMapBytes; }
  bool by_hand(size_t n) const { return !mapped(n) && (zeroed || total(n) <= kSmall); }
  T *allocate(size_t n) {
    const size_t head = up64(n * sizeof(T));
    if (extra > std::numeric_limits<size_t>::max() - head - 128 - kReadSlack)
      fail(Errc::OutOfMemory, "cpu: cannot allocate %zu bytes", extra);
    const size_t bytes = total(n);
    void *p;
    if (mapped(n)) {
      p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) fail(Errc::OutOfMemory, "cpu: cannot allocate %zu bytes", extra);
#ifdef MADV_HUGEPAGE
      ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure changes nothing
#endif
    } else if (by_hand(n)) {
      void *raw = zeroed ? std::calloc(1, bytes + 64) : std::malloc(bytes + 64);
      if (raw == nullptr) fail(Errc::OutOfMemory, "cpu: cannot allocate %zu bytes", extra);
      p = reinterpret_cast<void *>((reinterpret_cast<uintptr_t>(raw) + 64) & ~uintptr_t{63});
      static_cast<void **>(p)[-1] = raw;
    } else {
      p = std::aligned_alloc(64, bytes);
      if (p == nullptr) fail(Errc::OutOfMemory, "cpu: cannot allocate %zu bytes", extra);
    }
    *tail = static_cast<char *>(p) + head;
    return static_cast<T *>(p);
  }
  void deallocate(T *p, size_t n) noexcept {
    if (mapped(n))
      ::munmap(p, total(n));
    else if (by_hand(n))
      std::free(reinterpret_cast<void **>(p)[-1]);
    else
      std::free(p);
  }
  template <class U>
  bool operator==(const TailAlloc<U> &o) const { return extra == o.extra && zeroed == o.zeroed; }
  template <class U>
  bool operator!=(const TailAlloc<U> &o) const { return !(*this == o); }
};

}  // namespace

Storage::Storage(TensorKernels &kernels, size_t bytes)
    : kernels_(kernels), data_(kernels.allocate(bytes)), bytes_(bytes) {}

Storage::~Storage() {
  if (!inline_) kernels_.deallocate(data_);
}

Tensor Tensor::empty(DType dt, const Shape &shape, Device dev) { return make(dt, shape, dev, false); }

Tensor Tensor::zeros(DType dt, const Shape &shape, Device dev) {
  Tensor t = make(dt, shape, dev, true);
  if (!(dev.type == DeviceType::CPU && dev.index == 0) && t.numel() > 0) t.kernels().fill(t.view(), 0.0);
  return t;
}

Tensor Tensor::make(DType dt, const Shape &shape, Device dev, bool zeroed) {
  // Every tensor is made here: results of ops (broadcasts, matmuls with
  // K = 0, reductions), layer parameters, loaded models. One size rule.
  check_shape_fits(shape, dtype_size(dt), "result");
  Tensor t;
  const size_t bytes = static_cast<size_t>(shape.numel()) * dtype_size(dt);
  if (dev.type == DeviceType::CPU && dev.index == 0) {  // host memory in the control block's allocation
    static TensorKernels &cpu = kernels_for(Device{});
    void *data = nullptr;
    t.storage_ = std::allocate_shared<Storage>(TailAlloc<Storage>(bytes, &data, zeroed), cpu, bytes,
                                               static_cast<void *const *>(&data));
  } else {
    t.storage_ = std::make_shared<Storage>(kernels_for(dev), bytes);
  }
  t.dtype_ = dt;
  // Only the ndim used entries: the rest stay zero from Tensor's default Shape.
  const int nd = shape.ndim;
  t.shape_.ndim = nd;
  t.strides_.ndim = nd;
  int64_t acc = 1;
  for (int i = nd - 1; i >= 0; --i) {
    const int64_t d = shape.d[i];
    t.shape_.d[i] = d;
    t.strides_.d[i] = acc;
    // contiguous_strides' rule: saturate (only an empty tensor's dims can overflow).
    if (__builtin_mul_overflow(acc, d > 0 ? d : 1, &acc)) acc = INT64_MAX;
  }
  return t;
}

View Tensor::view() const {
  View v;
  v.data = data();
  v.dtype = dtype_;
  v.shape = shape_;
  v.strides = strides_;
  return v;
}

Tensor Tensor::as_strided(const Shape &shape, const Shape &strides, int64_t offset) const {
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = strides;
  t.offset_ = offset;
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor t = empty(dtype_, shape_, device());
  kernels().copy(t.view(), view());
  return t;
}

}  // namespace nn
