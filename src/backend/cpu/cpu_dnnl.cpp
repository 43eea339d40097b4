// oneDNN paths of the CPU backend: eltwise, binary, reduction, matmul, the
// large F32 products of a plan's steps (dnnl_gemm_f32), with a process-wide
// primitive cache. The only translation unit that includes dnnl.hpp.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "backend/cpu/cpu_internal.hpp"
#include "core/error.hpp"

namespace nn {
namespace cpu {
namespace {

using dnnl::memory;
using dims = memory::dims;

dnnl::engine &engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream &stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

// ---------------------------------------------------------------------------
// Primitive cache: key -> primitive, LRU-bounded, shared by all threads
// (executing a oneDNN primitive is thread-safe).

struct Key {
  static constexpr int kCap = 96;
  int n = 0;
  int64_t v[kCap];
  void push(int64_t x) {
    if (n < kCap) v[n] = x;
    ++n;  // overflow shows as n > kCap: such keys are never cached
  }
  bool operator==(const Key &o) const {
    return n == o.n && std::memcmp(v, o.v, sizeof(int64_t) * static_cast<size_t>(std::min(n, kCap))) == 0;
  }
};

struct KeyHash {
  size_t operator()(const Key &k) const {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < std::min(k.n, Key::kCap); ++i) {
      h ^= static_cast<uint64_t>(k.v[i]);
      h *= 1099511628211ull;
    }
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

struct Entry {
  bool ok = false;  // false: oneDNN has no implementation; use loops
  dnnl::primitive prim;
  memory::desc md[4];  // the primitive's operand descs, in an order fixed per kind
  memory::desc scratch_md;
  size_t scratch_bytes = 0;
};

class Cache {
 public:
  static constexpr size_t kCapacity = 1024;

  template <class Create>
  std::shared_ptr<const Entry> get(const Key &key, Create &&create) {
    if (key.n > Key::kCap) return make(create);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
    }
    std::shared_ptr<const Entry> e = make(create);  // outside the lock: creation is slow
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second->second;  // another thread won
    lru_.emplace_front(key, e);
    map_.emplace(key, lru_.begin());
    while (lru_.size() > kCapacity) {
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return e;
  }

 private:
  template <class Create>
  static std::shared_ptr<const Entry> make(Create &&create) {
    auto e = std::make_shared<Entry>();
    try {
      create(*e);
    } catch (const dnnl::error &err) {
#ifdef NN_CPU_DNNL_STRICT
      fail(Errc::Internal, "oneDNN primitive creation failed: %s", err.what());
#endif
      e->ok = false;  // no implementation for this case: the caller uses loops
    }
    return e;
  }

  std::mutex mu_;
  std::list<std::pair<Key, std::shared_ptr<const Entry>>> lru_;
  std::unordered_map<Key, std::list<std::pair<Key, std::shared_ptr<const Entry>>>::iterator, KeyHash> map_;
};

Cache &cache() {
  static Cache c;
  return c;
}

dnnl::primitive_attr make_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Finishes an entry from a primitive descriptor (empty pd: not implemented).
template <class PD, class Prim>
void finish(Entry &e, const PD &pd) {
  if (!pd) {
    e.ok = false;
    return;
  }
  e.prim = Prim(pd);
  e.scratch_md = pd.scratchpad_desc();
  e.scratch_bytes = e.scratch_md.get_size();
  e.ok = true;
}

void execute(const Entry &e, std::unordered_map<int, memory> &args) {
  try {
    if (e.scratch_bytes > 0)
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(e.scratch_md, engine(), scratch(kScratchDnnl, e.scratch_bytes)));
    e.prim.execute(stream(), args);
    stream().wait();
  } catch (const dnnl::error &err) {
    fail(Errc::Internal, "oneDNN execution failed: %s", err.what());
  }
}

memory mem(const memory::desc &md, const void *p) { return memory(md, engine(), const_cast<void *>(p)); }

memory::data_type dt_of(DType dt) {
  switch (dt) {
    case DType::F32: return memory::data_type::f32;
    case DType::BF16: return memory::data_type::bf16;
    case DType::F16: return memory::data_type::f16;
    default: return memory::data_type::undef;
  }
}

// Drops size-1 dims and merges dims that are contiguous in every operand.
// Returns the rank (0 for a single element); shape/strides outermost first.
template <int N>
int coalesce(const Shape &shape, const Shape *const strides[N], int64_t *sh, int64_t (*st)[kMaxDims]) {
  int64_t s[kMaxDims], t[N][kMaxDims];
  int nd = 0;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    int64_t d = shape[i];
    if (d == 1) continue;
    if (nd > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if ((*strides[k])[i] != t[k][nd - 1] * s[nd - 1]) merge = false;
      if (merge) {
        s[nd - 1] *= d;
        continue;
      }
    }
    s[nd] = d;
    for (int k = 0; k < N; ++k) t[k][nd] = (*strides[k])[i];
    ++nd;
  }
  for (int j = 0; j < nd; ++j) {
    sh[j] = s[nd - 1 - j];
    for (int k = 0; k < N; ++k) st[k][j] = t[k][nd - 1 - j];
  }
  return nd;
}

template <class F>
bool guard(F &&f) {
  try {
    return f();
  } catch (const dnnl::error &err) {
    fail(Errc::Internal, "oneDNN: %s", err.what());
  }
}

}  // namespace

// ---------------------------------------------------------------------------

bool dnnl_unary(UnaryOp op, const View &out, const View &x) {
  dnnl::algorithm alg;
  float alpha = 0.f, beta = 0.f;
  switch (op) {
    case UnaryOp::Neg: alg = dnnl::algorithm::eltwise_linear, alpha = -1.f; break;
    case UnaryOp::Abs: alg = dnnl::algorithm::eltwise_abs; break;
    case UnaryOp::Exp: alg = dnnl::algorithm::eltwise_exp; break;
    case UnaryOp::Log: alg = dnnl::algorithm::eltwise_log; break;
    case UnaryOp::Sqrt: alg = dnnl::algorithm::eltwise_sqrt; break;
    case UnaryOp::Relu: alg = dnnl::algorithm::eltwise_relu; break;
    case UnaryOp::Sigmoid: alg = dnnl::algorithm::eltwise_logistic; break;
    case UnaryOp::Tanh: alg = dnnl::algorithm::eltwise_tanh; break;
    case UnaryOp::LeakyRelu: alg = dnnl::algorithm::eltwise_relu, alpha = 0.01f; break;
    default: return false;
  }
  memory::data_type dt = dt_of(x.dtype);
  if (dt == memory::data_type::undef || x.dtype == DType::F16) return false;
  const int64_t n = out.numel();
  return guard([&] {
    Key key;
    key.push(1);
    key.push(static_cast<int64_t>(op));
    key.push(static_cast<int64_t>(x.dtype));
    key.push(n);
    key.push(num_threads());
    auto e = cache().get(key, [&](Entry &en) {
      memory::desc md({n}, dt, memory::format_tag::a);
      dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg, md, alpha, beta);
      dnnl::eltwise_forward::primitive_desc pd(d, make_attr(), engine(), true);
      en.md[0] = md;
      finish<decltype(pd), dnnl::eltwise_forward>(en, pd);
    });
    if (!e->ok) return false;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(e->md[0], x.data)},
                                         {DNNL_ARG_DST, mem(e->md[0], out.data)}};
    execute(*e, args);
    return true;
  });
}

bool dnnl_binary(BinaryOp op, const View &out, const View &a, const View &b) {
  dnnl::algorithm alg;
  switch (op) {
    case BinaryOp::Add: alg = dnnl::algorithm::binary_add; break;
    case BinaryOp::Sub: alg = dnnl::algorithm::binary_sub; break;
    case BinaryOp::Mul: alg = dnnl::algorithm::binary_mul; break;
    case BinaryOp::Div: alg = dnnl::algorithm::binary_div; break;
    case BinaryOp::Max: alg = dnnl::algorithm::binary_max; break;
    case BinaryOp::Min: alg = dnnl::algorithm::binary_min; break;
    default: return false;
  }
  memory::data_type dt = dt_of(out.dtype);
  if (dt == memory::data_type::undef || out.dtype == DType::F16) return false;
  const Shape *strides[3] = {&out.strides, &a.strides, &b.strides};
  int64_t sh[kMaxDims], st[3][kMaxDims];
  int nd = coalesce<3>(out.shape, strides, sh, st);
  if (nd == 0) {
    nd = 1;
    sh[0] = 1;
    st[0][0] = st[1][0] = st[2][0] = 1;
  }
  dims d_out(sh, sh + nd), s_out(nd), s_a(st[1], st[1] + nd), d_b(sh, sh + nd), s_b(nd);
  int64_t acc = 1;
  for (int j = nd - 1; j >= 0; --j) {
    s_out[j] = acc;
    acc *= sh[j];
  }
  acc = 1;
  for (int j = nd - 1; j >= 0; --j) {
    if (st[2][j] == 0) d_b[j] = 1;
    s_b[j] = d_b[j] == 1 ? acc : st[2][j];
    acc = s_b[j] * d_b[j];
  }
  for (int j = 0; j < nd; ++j)
    if (st[1][j] == 0 && sh[j] > 1) return false;  // src0 cannot broadcast
  return guard([&] {
    Key key;
    key.push(2);
    key.push(static_cast<int64_t>(op));
    key.push(static_cast<int64_t>(out.dtype));
    key.push(num_threads());
    key.push(nd);
    for (int j = 0; j < nd; ++j) {
      key.push(sh[j]);
      key.push(s_a[j]);
      key.push(d_b[j]);
      key.push(s_b[j]);
    }
    auto e = cache().get(key, [&](Entry &en) {
      memory::desc md0(d_out, dt, s_a), md1(d_b, dt, s_b), mdd(d_out, dt, s_out);
      dnnl::binary::desc d(alg, md0, md1, mdd);
      dnnl::binary::primitive_desc pd(d, make_attr(), engine(), true);
      en.md[0] = md0;
      en.md[1] = md1;
      en.md[2] = mdd;
      finish<decltype(pd), dnnl::binary>(en, pd);
    });
    if (!e->ok) return false;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC_0, mem(e->md[0], a.data)},
                                         {DNNL_ARG_SRC_1, mem(e->md[1], b.data)},
                                         {DNNL_ARG_DST, mem(e->md[2], out.data)}};
    execute(*e, args);
    return true;
  });
}

namespace {

// One matmul operand [B, R, C] as oneDNN sees it: 2-D when B == 1, batch dim 1
// when broadcast; strides of size-1 dims normalised so plain layouts look plain.
struct MatDesc {
  int64_t batch;  // 1 when broadcast or B == 1
  int64_t r, c, sb, sr, sc;
  bool gemm_friendly() const {
    return (sc == 1 && sr >= c) || (sr == 1 && sc >= r);
  }
};

MatDesc mat_desc(const View &v, int64_t B) {
  MatDesc m;
  m.r = v.shape[1];
  m.c = v.shape[2];
  m.sr = v.strides[1];
  m.sc = v.strides[2];
  if (m.c == 1) m.sc = 1;
  if (m.r == 1) m.sr = (m.sc == 1) ? m.c : 1;
  if (m.c == 1 && m.r > 1 && m.sr == 1) m.sc = m.r;  // a column: row-major [r, 1] is fine either way
  bool bcast = B > 1 && v.strides[0] == 0;
  m.batch = (B > 1 && !bcast) ? B : 1;
  m.sb = (m.batch > 1) ? v.strides[0] : m.r * m.c;
  return m;
}

}  // namespace

bool dnnl_matmul(const View &out, const View &a, const View &b) {
  memory::data_type dt = dt_of(out.dtype);
  if (dt == memory::data_type::undef || out.dtype == DType::F16) return false;
  const int64_t B = out.shape[0], M = out.shape[1], N = out.shape[2], K = a.shape[2];
  if (B < 1 || M < 1 || N < 1 || K < 1) return false;
  // Both operands broadcast over the batch: one product, copied to every batch.
  if (B > 1 && a.strides[0] == 0 && b.strides[0] == 0) {
    View o1 = out, a1 = a, b1 = b;
    o1.shape[0] = a1.shape[0] = b1.shape[0] = 1;
    if (!dnnl_matmul(o1, a1, b1)) return false;
    const size_t bytes = static_cast<size_t>(M * N) * dtype_size(out.dtype);
    for (int64_t i = 1; i < B; ++i)
      std::memcpy(static_cast<char *>(out.data) + static_cast<size_t>(i) * bytes, out.data, bytes);
    return true;
  }
  View av = a, bv = b;
  MatDesc ma = mat_desc(a, B), mb = mat_desc(b, B);
  // Layouts oneDNN's GEMM cannot read directly are first copied to row-major.
  auto densify = [&](View &v, MatDesc &m, int slot) {
    View src = v;
    src.shape[0] = m.batch;
    View dst;
    dst.dtype = v.dtype;
    dst.shape = src.shape;
    dst.strides = contiguous_strides(src.shape);
    dst.data = scratch(slot, static_cast<size_t>(src.numel()) * dtype_size(v.dtype));
    loop_copy(dst, src);
    if (m.batch == 1 && B > 1) dst.strides[0] = 0;
    dst.shape[0] = v.shape[0];
    v = dst;
    m = mat_desc(v, B);
  };
  if (!ma.gemm_friendly()) densify(av, ma, kScratchA);
  if (!mb.gemm_friendly()) densify(bv, mb, kScratchB);
  return guard([&] {
    const bool batched = B > 1;
    Key key;
    key.push(4);
    key.push(static_cast<int64_t>(out.dtype));
    key.push(num_threads());
    key.push(B);
    key.push(M);
    key.push(N);
    key.push(K);
    for (const MatDesc *m : {&ma, &mb}) {
      key.push(m->batch);
      key.push(m->sb);
      key.push(m->sr);
      key.push(m->sc);
    }
    auto e = cache().get(key, [&](Entry &en) {
      memory::desc src, wei, dst;
      if (batched) {
        src = memory::desc({ma.batch, M, K}, dt, {ma.sb, ma.sr, ma.sc});
        wei = memory::desc({mb.batch, K, N}, dt, {mb.sb, mb.sr, mb.sc});
        dst = memory::desc({B, M, N}, dt, {M * N, N, 1});
      } else {
        src = memory::desc({M, K}, dt, {ma.sr, ma.sc});
        wei = memory::desc({K, N}, dt, {mb.sr, mb.sc});
        dst = memory::desc({M, N}, dt, {N, 1});
      }
      dnnl::matmul::desc d(src, wei, dst);
      dnnl::matmul::primitive_desc pd(d, make_attr(), engine(), true);
      en.md[0] = src;
      en.md[1] = wei;
      en.md[2] = dst;
      finish<decltype(pd), dnnl::matmul>(en, pd);
    });
    if (!e->ok) return false;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(e->md[0], av.data)},
                                         {DNNL_ARG_WEIGHTS, mem(e->md[1], bv.data)},
                                         {DNNL_ARG_DST, mem(e->md[2], out.data)}};
    execute(*e, args);
    return true;
  });
}

bool dnnl_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                   int64_t ldb, bool accumulate, float *C, int64_t ldc) {
  if (M < 1 || N < 1 || K < 1) return false;
  // Which oneDNN engine, measured per kind of product on this machine kind
  // (Xeon, AVX-512, 1 thread, GFLOP/s, matmul primitive / dnnl_sgemm): the
  // forward products X W^T (tb) 153 / 157, 152 / 132, 149 / 146, 149 / 148
  // (784-2048-2048 b512, 4096 b256, 512 b128); the weight gradients G^T X
  // (ta) 148 / 166, 161 / 161, 131 / 158, 166 / 172; the input gradients
  // G W 146 / 154, 141 / 147. So the primitive for X W^T, dnnl_sgemm (which
  // takes beta itself) for the others.
  if (ta || !tb) {
    const dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.f, A, lda, B, ldb,
                                        accumulate ? 1.f : 0.f, C, ldc);
    if (st == dnnl_success) return true;
    if (st == dnnl_out_of_memory) fail(Errc::OutOfMemory, "oneDNN sgemm: out of memory");
    fail(Errc::Internal, "oneDNN sgemm failed (status %d)", static_cast<int>(st));
  }
  return guard([&] {
    Key key;
    key.push(5);
    key.push(num_threads());
    for (int64_t v : {M, N, K, lda, ldb, ldc, int64_t{accumulate}}) key.push(v);
    auto e = cache().get(key, [&](Entry &en) {
      const auto f32 = memory::data_type::f32;
      // X [M,K] row-major and W^T [K,N] as a strided view of W [N,K] (only
      // X W^T gets here: the others returned above).
      memory::desc src({M, K}, f32, dims{lda, 1});
      memory::desc wei({K, N}, f32, dims{1, ldb});
      memory::desc dst({M, N}, f32, dims{ldc, 1});
      dnnl::primitive_attr attr = make_attr();
      if (accumulate) {
        dnnl::post_ops po;
        po.append_sum(1.f);
        attr.set_post_ops(po);
      }
      dnnl::matmul::desc d(src, wei, dst);
      dnnl::matmul::primitive_desc pd(d, attr, engine(), true);
      en.md[0] = src;
      en.md[1] = wei;
      en.md[2] = dst;
      finish<decltype(pd), dnnl::matmul>(en, pd);
    });
    if (!e->ok) return false;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(e->md[0], A)},
                                         {DNNL_ARG_WEIGHTS, mem(e->md[1], B)},
                                         {DNNL_ARG_DST, mem(e->md[2], C)}};
    execute(*e, args);
    return true;
  });
}

}  // namespace cpu
}  // namespace nn
