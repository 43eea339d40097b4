// The CPU backend: memory, thread count, and the dispatch between oneDNN
// (cpu_dnnl.cpp) and plain loops (cpu_loops.cpp).
#include <emmintrin.h>
#include <omp.h>
#include <pthread.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <vector>

#include "backend/backend.hpp"
#include "backend/cpu/cpu_internal.hpp"
#include "backend/cpu/cpu_train.hpp"
#include "core/error.hpp"

namespace nn {
namespace cpu {
namespace {

std::atomic<int> g_threads{0};  // 0: not set (the environment's default)

// omp_get_num_procs() asks the kernel for the affinity mask (a system call):
// read it once, not on every kernel call.
int all_cores() {
  static const int k = [] {
    int n = omp_get_num_procs();
    return n > 0 ? n : 1;
  }();
  return k;
}

// A thread count as OpenMP writes it in OMP_NUM_THREADS: a positive decimal
// number, optionally surrounded by blanks, optionally the first of a
// comma-separated list (the outermost level's count). 0 for anything else
// (unset, empty, garbage, 0, negative, too large).
int parse_thread_count(const char *s) {
  if (s == nullptr) return 0;
  while (*s == ' ' || *s == '\t') ++s;
  if (*s < '0' || *s > '9') return 0;
  long long v = 0;
  for (; *s >= '0' && *s <= '9'; ++s) {
    v = v * 10 + (*s - '0');
    if (v > std::numeric_limits<int>::max()) return 0;
  }
  while (*s == ' ' || *s == '\t') ++s;
  if (*s != '\0' && *s != ',') return 0;
  return static_cast<int>(v);
}

// The default thread count (before any nn_set_num_threads): OMP_NUM_THREADS
// if it holds a valid count, else NN_NUM_THREADS, else all cores; capped to
// the cores. The environment is read once, at the first use.
int default_threads() {
  static const int k = [] {
    int n = parse_thread_count(std::getenv("OMP_NUM_THREADS"));
    if (n <= 0) n = parse_thread_count(std::getenv("NN_NUM_THREADS"));
    return n <= 0 || n > all_cores() ? all_cores() : n;
  }();
  return k;
}

// Elementwise work below this many elements goes to loops: oneDNN's per-call
// overhead is larger than the work, and for these ops the results are the same.
constexpr int64_t kSmallElementwise = 4096;

size_t round_up64(size_t bytes) { return (bytes + 63) & ~static_cast<size_t>(63); }

struct ScratchSet {
  void *p[kNumScratchSlots] = {};
  size_t cap[kNumScratchSlots] = {};
  ~ScratchSet() {
    for (int i = 0; i < kNumScratchSlots; ++i) std::free(p[i]);
  }
};

bool is_int(DType dt) { return !is_floating(dt); }

}  // namespace

namespace {

// Set in a child forked from this process (pthread_atfork, registered when
// the backend starts): OpenMP's threads do not survive fork, and libgomp
// waits forever for them in the child's first parallel region, so a forked
// child computes on its own thread (nn.h, "Threads and fork").
std::atomic<bool> g_forked{false};
void on_fork_child() { g_forked.store(true, std::memory_order_relaxed); }
const bool g_atfork_registered = [] { return ::pthread_atfork(nullptr, nullptr, on_fork_child) == 0; }();

void *idle_thread(void *) { return nullptr; }

// OMP_STACKSIZE (GOMP_STACKSIZE) as libgomp reads it: a number with an
// optional B, K (the default), M or G suffix; 0 when unset or unreadable.
size_t omp_stack_bytes() {
  const char *s = std::getenv("OMP_STACKSIZE");
  if (s == nullptr) s = std::getenv("GOMP_STACKSIZE");
  if (s == nullptr) return 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  while (*end == ' ') ++end;
  unsigned long long unit = 1024;
  switch (*end) {
    case 'b': case 'B': unit = 1; break;
    case 'k': case 'K': case '\0': unit = 1024; break;
    case 'm': case 'M': unit = 1024ull * 1024; break;
    case 'g': case 'G': unit = 1024ull * 1024 * 1024; break;
    default: return 0;
  }
  return static_cast<size_t>(v * unit);
}

// Starts the calling thread's OpenMP team of up to n threads at a safe point
// and returns its size. libgomp ends the process (exit) when it cannot
// create a team's thread; so first create n - 1 threads here, as libgomp
// will (default attributes, or OMP_STACKSIZE's stack), and keep only as many
// as the system gave; then let OpenMP create its team (its threads stay in
// the team's pool for the later regions of this thread).
int start_team(int n) {
  if (n <= 1) return 1;
  pthread_attr_t attr;
  bool have_attr = ::pthread_attr_init(&attr) == 0;
  if (have_attr) {
    const size_t stack = omp_stack_bytes();
    if (stack > 0) ::pthread_attr_setstacksize(&attr, stack);
  }
  std::vector<pthread_t> started;
  started.reserve(static_cast<size_t>(n - 1));
  for (int i = 1; i < n; ++i) {
    pthread_t t;
    if (::pthread_create(&t, have_attr ? &attr : nullptr, idle_thread, nullptr) != 0) break;
    started.push_back(t);
  }
  for (pthread_t t : started) ::pthread_join(t, nullptr);
  if (have_attr) ::pthread_attr_destroy(&attr);
  const int k = static_cast<int>(started.size()) + 1;
  omp_set_num_threads(k);
#pragma omp parallel num_threads(k)
  {
  }
  return k;
}

}  // namespace

int requested_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

int num_threads() {
  (void)g_atfork_registered;
  if (g_forked.load(std::memory_order_relaxed)) return 1;
  if (omp_in_parallel()) return 1;  // inside a team: no nested teams
  thread_local int for_n = -1, usable = 1;  // this thread's team: requested, started
  const int n = requested_threads();
  if (for_n != n) {
    usable = start_team(n);
    for_n = n;
  }
  return usable;
}

void ensure_threads() {
  thread_local int current = -1;
  int n = num_threads();
  if (current != n) {
    omp_set_num_threads(n);
    current = n;
  }
}

void *scratch(int slot, size_t bytes) {
  thread_local ScratchSet set;
  if (bytes > set.cap[slot] || set.p[slot] == nullptr) {
    if (bytes > std::numeric_limits<size_t>::max() - 64) throw std::bad_alloc();
    size_t cap = round_up64(bytes > 0 ? bytes : 64);
    void *p = std::aligned_alloc(64, cap);
    if (p == nullptr) throw std::bad_alloc();
    std::free(set.p[slot]);
    set.p[slot] = p;
    set.cap[slot] = cap;
  }
  return set.p[slot];
}

namespace {

// Copies below this size stay ordinary (they are in cache, and so is their copy).
constexpr size_t kStreamMinBytes = size_t{1} << 18;
// Split over the threads from this size on.
constexpr size_t kStreamParallelBytes = size_t{1} << 20;

// memcpy with streaming (non-temporal) stores for [d, d + bytes) past the
// first 16-byte boundary: the lines go to memory without being read first
// and without evicting what the caller works on.
void stream_copy_range(char *d, const char *s, size_t bytes) {
  size_t head = (16 - (reinterpret_cast<uintptr_t>(d) & 15)) & 15;
  if (head > bytes) head = bytes;
  std::memcpy(d, s, head);
  d += head;
  s += head;
  bytes -= head;
  size_t i = 0;
  for (; i + 64 <= bytes; i += 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i + 32));
    const __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i + 48));
    _mm_stream_si128(reinterpret_cast<__m128i *>(d + i), a);
    _mm_stream_si128(reinterpret_cast<__m128i *>(d + i + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i *>(d + i + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i *>(d + i + 48), e);
  }
  std::memcpy(d + i, s + i, bytes - i);
  _mm_sfence();  // the streamed lines are visible before the copy is said done
}

// A copy nothing reads soon (a rollback point): streamed, in parallel when large.
void stream_copy(void *dst, const void *src, size_t bytes) {
  char *d = static_cast<char *>(dst);
  const char *s = static_cast<const char *>(src);
  if (bytes < kStreamMinBytes) {
    std::memcpy(d, s, bytes);
    return;
  }
  const int nt = num_threads();
  if (nt <= 1 || bytes < kStreamParallelBytes) {
    stream_copy_range(d, s, bytes);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num()), k = static_cast<size_t>(omp_get_num_threads());
    const size_t lines = bytes / 64;  // chunks start on 64-byte offsets
    const size_t b0 = lines * t / k * 64, b1 = t + 1 == k ? bytes : lines * (t + 1) / k * 64;
    stream_copy_range(d + b0, s + b0, b1 - b0);
  }
}

View contiguous_like(const View &v, void *data, DType dt) {
  View r;
  r.data = data;
  r.dtype = dt;
  r.shape = v.shape;
  r.strides = contiguous_strides(v.shape);
  return r;
}

// The training kernels come from CpuTrainBackend (cpu_train.cpp, cpu_optim.cpp).
class CpuBackend final : public CpuTrainBackend {
 public:
  Device device() const override { return Device{DeviceType::CPU, 0}; }

  void *allocate(size_t bytes) override {
    if (bytes > std::numeric_limits<size_t>::max() - 64)
      fail(Errc::OutOfMemory, "cpu: cannot allocate %zu bytes", bytes);
    size_t n = round_up64(bytes > 0 ? bytes : 1);
    void *p = std::aligned_alloc(64, n);
    if (p == nullptr) fail(Errc::OutOfMemory, "cpu: cannot allocate %zu bytes", bytes);
    return p;
  }
  void deallocate(void *p) noexcept override { std::free(p); }
  void copy_to_host(void *host_dst, const void *src, size_t bytes) override {
    if (bytes > 0) std::memcpy(host_dst, src, bytes);
  }
  void copy_from_host(void *dst, const void *host_src, size_t bytes) override {
    if (bytes > 0) std::memcpy(dst, host_src, bytes);
  }

  void copy_many(const View *dst, const View *src, size_t n) override {
    guarded("copy", [&] {
      for (size_t i = 0; i < n; ++i) {
        const View &d = dst[i], &s = src[i];
        if (d.dtype == s.dtype && d.numel() == s.numel() && d.contiguous() && s.contiguous()) {
          if (d.data != s.data) stream_copy(d.data, s.data, static_cast<size_t>(d.numel()) * dtype_size(d.dtype));
        } else {
          copy(d, s);
        }
      }
    });
  }

  void copy(const View &dst, const View &src) override {
    guarded("copy", [&] {
      int64_t n = dst.numel();
      if (n == 0) return;
      if (dst.dtype == src.dtype && dst.contiguous() && src.contiguous()) {
        if (dst.data != src.data)
          std::memmove(dst.data, src.data, static_cast<size_t>(n) * dtype_size(dst.dtype));
        return;
      }
      loop_copy(dst, src);
    });
  }

  void fill(const View &dst, double value) override {
    guarded("fill", [&] {
      if (dst.numel() == 0) return;
      loop_fill(dst, value);
    });
  }

  void unary(UnaryOp op, const View &out, const View &x) override {
    guarded("unary", [&] {
      if (is_int(x.dtype) && !(op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Relu ||
                               op == UnaryOp::Step))
        fail(Errc::Internal, "cpu unary: op %d on integer dtype %s", static_cast<int>(op),
             dtype_name(x.dtype));
      int64_t n = out.numel();
      if (n == 0) return;
      if ((x.dtype == DType::F32 || x.dtype == DType::BF16) && unary_uses_dnnl(op)) {
        View src = x;
        if (!x.contiguous()) {
          loop_copy(out, x);
          src = out;
        }
        // oneDNN 2.6's exp maps NaN to inf: inputs with a NaN take the loops.
        if (op == UnaryOp::Exp && any_nan(src)) return loop_unary(op, out, src);
        if (dnnl_unary(op, out, src)) return;
        return loop_unary(op, out, src);
      }
      loop_unary(op, out, x);
    });
  }

  void binary(BinaryOp op, const View &out, const View &a, const View &b) override {
    guarded("binary", [&] {
      if (is_int(out.dtype) && op == BinaryOp::Div)
        fail(Errc::Internal, "cpu binary: integer division reached the backend");
      int64_t n = out.numel();
      if (n == 0) return;
      // Max/Min stay in loops: they propagate NaN like torch.maximum/minimum.
      if ((out.dtype == DType::F32 || out.dtype == DType::BF16) && n >= kSmallElementwise &&
          (op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul || op == BinaryOp::Div)) {
        bool commutative = op == BinaryOp::Add || op == BinaryOp::Mul;
        if (dense(a)) {
          if (dnnl_binary(op, out, a, b)) return;
        } else if (commutative && dense(b)) {
          if (dnnl_binary(op, out, b, a)) return;
        }
      }
      loop_binary(op, out, a, b);
    });
  }

  void reduce(ReduceOp op, const View &out, const View &x) override {
    guarded("reduce", [&] {
      if (out.numel() == 0) return;
      int64_t n = x.shape.ndim == 3 ? x.shape[1] : 0;
      if (x.shape.ndim != 3) fail(Errc::Internal, "cpu reduce: x must be [outer, n, inner]");
      if (op == ReduceOp::Mean && is_int(x.dtype))
        fail(Errc::Internal, "cpu reduce: mean of integer dtype %s", dtype_name(x.dtype));
      if (n == 0) {
        if (op == ReduceOp::Sum) return loop_fill(out, 0.0);
        if (op == ReduceOp::Mean) return loop_fill(out, std::numeric_limits<double>::quiet_NaN());
        fail(Errc::Internal, "cpu reduce: max/min/argmax over an empty dim");
      }
      // Loops only: oneDNN 2.6's reduction_max/min drop NaN (torch propagates it)
      // and its sums accumulate in F32; ours accumulate in F64.
      loop_reduce(op, out, x);
    });
  }

  void matmul(const View &out, const View &a, const View &b) override {
    guarded("matmul", [&] {
      if (out.numel() == 0) return;
      int64_t K = a.shape[2];
      if (K == 0) return loop_fill(out, 0.0);
      if (out.dtype == DType::F32 || out.dtype == DType::BF16) {
        if (dnnl_matmul(out, a, b)) return;
        return loop_matmul(out, a, b);
      }
      if (out.dtype == DType::F16) return matmul_f16(out, a, b);
      loop_matmul(out, a, b);
    });
  }

 private:
  // oneDNN eltwise (F32, BF16) for the transcendental ops, always (so a value
  // never depends on the tensor's size). The rest are loops: STEP has no
  // primitive; LOG: oneDNN 2.6's f32 log is off by ~3e-6 absolute near 1;
  // RELU, LEAKY_RELU: oneDNN maps NaN to 0 (torch keeps NaN); NEG: its
  // eltwise_linear gives +0 for -(+0); ABS: as fast in a loop.
  static bool unary_uses_dnnl(UnaryOp op) {
    return op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Sigmoid || op == UnaryOp::Tanh;
  }

  // No stride-0 dim of size > 1.
  static bool dense(const View &v) {
    for (int i = 0; i < v.shape.ndim; ++i)
      if (v.shape[i] > 1 && v.strides[i] == 0) return false;
    return true;
  }

  // F16: convert to F32, multiply with oneDNN, convert back.
  static void matmul_f16(const View &out, const View &a, const View &b) {
    auto to_f32 = [](const View &v, int slot) {
      // A batch-broadcast operand converts one matrix only and keeps stride 0.
      View one = v;
      bool bcast = v.shape[0] > 1 && v.strides[0] == 0;
      if (bcast) one.shape[0] = 1;
      size_t bytes = static_cast<size_t>(one.numel()) * 4;
      View f = contiguous_like(one, scratch(slot, bytes), DType::F32);
      loop_copy(f, one);
      if (bcast) {
        f.shape[0] = v.shape[0];
        f.strides[0] = 0;
      }
      return f;
    };
    View af = to_f32(a, kScratchA);
    View bf = to_f32(b, kScratchB);
    View of = contiguous_like(out, scratch(kScratchC, static_cast<size_t>(out.numel()) * 4), DType::F32);
    if (!dnnl_matmul(of, af, bf)) loop_matmul(of, af, bf);
    loop_copy(out, of);
  }
};

}  // namespace
}  // namespace cpu

Backend &cpu_backend() {
  static cpu::CpuBackend backend;
  return backend;
}

int cpu_set_num_threads(int n) {
  // Capped to the cores this process may run on: more threads than cores
  // only cost (and 1000 of them may not be creatable).
  if (n <= 0 || n > cpu::all_cores()) n = cpu::all_cores();
  cpu::g_threads.store(n, std::memory_order_relaxed);
  return n;
}

int cpu_get_num_threads() {
  if (cpu::g_forked.load(std::memory_order_relaxed)) return 1;
  return cpu::requested_threads();
}

}  // namespace nn
