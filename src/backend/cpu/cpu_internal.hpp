// Internals of the CPU backend shared by its translation units. No oneDNN
// header here: only cpu_dnnl.cpp includes dnnl.hpp.
#pragma once
#include <cstddef>
#include <cstdint>

#include <exception>
#include <new>

#include "backend/backend.hpp"
#include "core/error.hpp"

namespace nn {
// Function multiversioning (one clone per instruction set, picked by an
// ifunc resolver at load time). Not under ThreadSanitizer: the resolvers run
// before TSan's runtime is initialised and, instrumented, crash the process
// at load (gcc); the default clone is used instead.
#if defined(__SANITIZE_THREAD__)
#define NN_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NN_TSAN_BUILD 1
#endif
#endif
#ifdef NN_TSAN_BUILD
#define NN_TARGET_CLONES(...)
#else
#define NN_TARGET_CLONES(...) __attribute__((target_clones(__VA_ARGS__)))
#endif

namespace cpu {

// Makes the calling thread's OpenMP team size match cpu_set_num_threads().
// Every entry point that runs parallel work calls it first.
void ensure_threads();
// Runs f after ensure_threads(), letting nn::Error through and turning any
// other exception into one ("cpu <what>: ..."): every entry point wraps its
// work in it so nothing but nn::Error leaves the backend.
template <class F>
void guarded(const char *what, F &&f) {
  try {
    ensure_threads();
    f();
  } catch (const Error &) {
    throw;
  } catch (const std::bad_alloc &) {
    fail(Errc::OutOfMemory, "cpu %s: out of memory", what);
  } catch (const std::exception &e) {
    fail(Errc::Internal, "cpu %s: %s", what, e.what());
  } catch (...) {
    fail(Errc::Internal, "cpu %s: unknown exception", what);
  }
}

// The process-wide thread count in effect.
int num_threads();

// Per-thread grow-only scratch buffers (64-byte aligned), one per slot, so the
// steady state allocates nothing. A slot's pointer stays valid until the next
// scratch() call on the same slot by the same thread.
enum ScratchSlot {
  kScratchA = 0, kScratchB, kScratchC, kScratchDnnl, kScratchLoops, kScratchPackA,
  kScratchPlan0, kScratchPlan1,  // cpu_plan.cpp: a forward pass's intermediate results
  kNumScratchSlots
};
void *scratch(int slot, size_t bytes);

// Plain loops (cpu_loops.cpp). Every dtype, any strides where the interface
// allows them. These are also the fallback when oneDNN has no implementation.
void loop_copy(const View &dst, const View &src);
void loop_fill(const View &dst, double value);
void loop_unary(UnaryOp op, const View &out, const View &x);
void loop_binary(BinaryOp op, const View &out, const View &a, const View &b);
void loop_reduce(ReduceOp op, const View &out, const View &x);
// a [B,M,K], b [B,K,N], any strides; out [B,M,N] contiguous; K may be 0.
void loop_matmul(const View &out, const View &a, const View &b);
// True when a contiguous floating view holds a NaN.
bool any_nan(const View &x);

// oneDNN paths (cpu_dnnl.cpp). Each returns false when oneDNN cannot do the
// case (dtype, layout, or no implementation on this CPU); the caller then
// falls back to loops. dnnl errors come out as nn::Error(Errc::Internal).
// out and x contiguous, same dtype (F32 or BF16); x may alias out.
bool dnnl_unary(UnaryOp op, const View &out, const View &x);
// out contiguous; a dense (any strides, no stride-0 dim of size > 1); b any
// strides with stride-0 broadcast dims. F32 or BF16.
bool dnnl_binary(BinaryOp op, const View &out, const View &a, const View &b);
// a [B,M,K], b [B,K,N] (strides as in Backend::matmul), out contiguous; F32
// or BF16; M, N, K > 0.
bool dnnl_matmul(const View &out, const View &a, const View &b);
// F32 C[M,N] = op(A) op(B) (+ C when accumulate), row-major operands with
// leading dimensions lda, ldb, ldc (op: transposed when ta / tb), through
// oneDNN: X W^T-shaped products (tb only) through a matmul primitive cached
// per shape, the others through dnnl_sgemm (each measured the faster there).
// Both allocate a little inside oneDNN per call. M, N, K > 0.
bool dnnl_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                   int64_t ldb, bool accumulate, float *C, int64_t ldc);

}  // namespace cpu
}  // namespace nn
