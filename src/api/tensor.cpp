// extern "C" shims for tensors and tensor operations.
#include "api/api.hpp"

using namespace nn;
using namespace nn::api;

namespace {

Shape shape_arg(int ndim, const int64_t *shape, DType dt, const char *fn) {
  return checked_shape(ndim, shape, dtype_size(dt), fn);
}

template <typename E, typename C>
E enum_arg(const C &c, int count, const char *fn, const char *name, const char *type) {
  int v = enum_value(c);
  if (v < 0 || v >= count) fail(Errc::InvalidArgument, "%s: %s is %d, not a valid %s", fn, name, v, type);
  return static_cast<E>(v);
}

}  // namespace

namespace nn::api {
namespace {
#if defined(__SANITIZE_ADDRESS__)
constexpr int kHandleCache = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kHandleCache = 0;
#else
constexpr int kHandleCache = 16;
#endif
#else
constexpr int kHandleCache = 16;
#endif
// Trivially destructible, so usable during other thread_local destructors;
// `count` is -1 once the thread's cache has been emptied at thread exit.
struct HandleCache {
  void *items[kHandleCache > 0 ? kHandleCache : 1];
  int count;
  bool owned;  // t_cache_owner registered for this thread (touched once, not per free)
};
thread_local HandleCache t_cache = {{nullptr}, 0, false};
struct HandleCacheOwner {
  HandleCacheOwner() = default;
  ~HandleCacheOwner() {
    for (int i = 0; i < t_cache.count; ++i) ::operator delete(t_cache.items[i]);
    t_cache.count = -1;
  }
};
thread_local HandleCacheOwner t_cache_owner;
}  // namespace

void *handle_memory() {
  HandleCache &c = t_cache;
  if (kHandleCache > 0 && c.count > 0) return c.items[--c.count];
  return ::operator new(sizeof(nn_tensor));
}

void release_handle_memory(void *p) noexcept {
  HandleCache &c = t_cache;
  if (kHandleCache > 0 && c.count >= 0 && c.count < kHandleCache) {
    if (!c.owned) {
      (void)&t_cache_owner;  // registers the owner's destructor for this thread
      c.owned = true;
    }
    c.items[c.count++] = p;
    return;
  }
  ::operator delete(p);
}
}  // namespace nn::api

extern "C" {

NN_API nn_status nn_tensor_zeros(nn_dtype dt, int ndim, const int64_t *shape, nn_device dev, nn_tensor **out) {
  const char *fn = "nn_tensor_zeros";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    DType d = dtype_arg(enum_value(dt), fn);
    Shape s = shape_arg(ndim, shape, d, fn);
    give(out, zeros(d, s, device_arg(dev, fn)));
  });
}

NN_API nn_status nn_tensor_full(nn_dtype dt, int ndim, const int64_t *shape, double value, nn_device dev,
                                nn_tensor **out) {
  const char *fn = "nn_tensor_full";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    DType d = dtype_arg(enum_value(dt), fn);
    Shape s = shape_arg(ndim, shape, d, fn);
    give(out, full(d, s, value, device_arg(dev, fn)));
  });
}

NN_API nn_status nn_tensor_from_data(nn_dtype dt, int ndim, const int64_t *shape, const void *data, nn_device dev,
                                     nn_tensor **out) {
  const char *fn = "nn_tensor_from_data";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    DType d = dtype_arg(enum_value(dt), fn);
    Shape s = shape_arg(ndim, shape, d, fn);
    if (s.numel() > 0) non_null(data, fn, "data");
    give(out, from_host(d, s, data, device_arg(dev, fn)));
  });
}

NN_API nn_status nn_tensor_arange(double start, double end, double step, nn_dtype dt, nn_device dev,
                                  nn_tensor **out) {
  const char *fn = "nn_tensor_arange";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    DType d = dtype_arg(enum_value(dt), fn);
    give(out, arange(start, end, step, d, device_arg(dev, fn), fn));
  });
}

NN_API nn_status nn_tensor_rand_uniform(nn_dtype dt, int ndim, const int64_t *shape, double low, double high,
                                        uint64_t seed, nn_device dev, nn_tensor **out) {
  const char *fn = "nn_tensor_rand_uniform";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    DType d = dtype_arg(enum_value(dt), fn);
    Shape s = shape_arg(ndim, shape, d, fn);
    give(out, rand_uniform(d, s, low, high, seed, device_arg(dev, fn), fn));
  });
}

NN_API nn_status nn_tensor_rand_normal(nn_dtype dt, int ndim, const int64_t *shape, double mean, double std,
                                       uint64_t seed, nn_device dev, nn_tensor **out) {
  const char *fn = "nn_tensor_rand_normal";
  return guard(fn, [&] {
    non_null(out, fn, "out");
    DType d = dtype_arg(enum_value(dt), fn);
    Shape s = shape_arg(ndim, shape, d, fn);
    give(out, rand_normal(d, s, mean, std, seed, device_arg(dev, fn), fn));
  });
}

NN_API void nn_tensor_free(nn_tensor *t) {
  if (!t) return;
  t->~nn_tensor();
  release_handle_memory(t);
}

NN_API int nn_tensor_ndim(const nn_tensor *t) { return t ? t->t.ndim() : -1; }

NN_API nn_status nn_tensor_shape(const nn_tensor *t, int64_t *shape) {
  const char *fn = "nn_tensor_shape";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    if (x.ndim() > 0) non_null(shape, fn, "shape");
    for (int i = 0; i < x.ndim(); ++i) shape[i] = x.dim(i);
  });
}

NN_API int64_t nn_tensor_numel(const nn_tensor *t) { return t ? t->t.numel() : -1; }

NN_API nn_dtype nn_tensor_dtype(const nn_tensor *t) {
  return t ? static_cast<nn_dtype>(t->t.dtype()) : static_cast<nn_dtype>(-1);
}

NN_API nn_device nn_tensor_device(const nn_tensor *t) { return t ? to_c(t->t.device()) : nn_device{0, -1}; }

NN_API nn_status nn_tensor_read(const nn_tensor *t, void *dst, size_t dst_bytes) {
  const char *fn = "nn_tensor_read";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    if (dst_bytes < x.nbytes())
      fail(Errc::InvalidArgument, "%s: dst_bytes is %zu but the tensor (shape %s, %s) holds %zu bytes", fn,
           dst_bytes, x.shape().str().c_str(), dtype_name(x.dtype()), x.nbytes());
    if (x.nbytes() > 0) non_null(dst, fn, "dst");
    to_host(x, dst);
  });
}

NN_API nn_status nn_tensor_write(nn_tensor *t, const void *src, size_t src_bytes) {
  const char *fn = "nn_tensor_write";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    if (src_bytes != x.nbytes())
      fail(Errc::InvalidArgument, "%s: src_bytes is %zu but the tensor (shape %s, %s) holds %zu bytes", fn,
           src_bytes, x.shape().str().c_str(), dtype_name(x.dtype()), x.nbytes());
    if (x.nbytes() > 0) non_null(src, fn, "src");
    write_from_host(x, src);
  });
}

NN_API void *nn_tensor_data(nn_tensor *t) {
  if (!t || t->t.device().type != DeviceType::CPU || !t->t.is_contiguous()) return nullptr;
  return t->t.data();
}

NN_API nn_status nn_tensor_reshape(const nn_tensor *t, int ndim, const int64_t *shape, nn_tensor **out) {
  const char *fn = "nn_tensor_reshape";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    non_null(out, fn, "out");
    give(out, reshape(x, ndim, shape, fn));
  });
}

NN_API nn_status nn_tensor_transpose(const nn_tensor *t, int dim0, int dim1, nn_tensor **out) {
  const char *fn = "nn_tensor_transpose";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    non_null(out, fn, "out");
    give(out, transpose(x, dim0, dim1, fn));
  });
}

NN_API nn_status nn_tensor_to_device(const nn_tensor *t, nn_device dev, nn_tensor **out) {
  const char *fn = "nn_tensor_to_device";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    non_null(out, fn, "out");
    give(out, to_device(x, device_arg(dev, fn)));
  });
}

NN_API nn_status nn_tensor_to_dtype(const nn_tensor *t, nn_dtype dt, nn_tensor **out) {
  const char *fn = "nn_tensor_to_dtype";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    non_null(out, fn, "out");
    give(out, to_dtype(x, dtype_arg(enum_value(dt), fn)));
  });
}

NN_API nn_status nn_tensor_clone(const nn_tensor *t, nn_tensor **out) {
  const char *fn = "nn_tensor_clone";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    non_null(out, fn, "out");
    give(out, clone(x));
  });
}

NN_API nn_status nn_tensor_to_string(const nn_tensor *t, char *buf, size_t cap, size_t *needed) {
  const char *fn = "nn_tensor_to_string";
  return guard(fn, [&] {
    const Tensor &x = tensor_arg(t, fn, "t");
    write_text(to_string(x), buf, cap, needed, fn);
  });
}

NN_API nn_status nn_unary(nn_unary_op op, const nn_tensor *x, nn_tensor **out) {
  const char *fn = "nn_unary";
  return guard(fn, [&] {
    UnaryOp o = enum_arg<UnaryOp>(op, NN_OP_STEP + 1, fn, "op", "nn_unary_op");
    const Tensor &t = tensor_arg(x, fn, "x");
    non_null(out, fn, "out");
    give(out, unary(o, t, fn));
  });
}

NN_API nn_status nn_binary(nn_binary_op op, const nn_tensor *a, const nn_tensor *b, nn_tensor **out) {
  const char *fn = "nn_binary";
  return guard(fn, [&] {
    BinaryOp o = enum_arg<BinaryOp>(op, NN_OP_MIN + 1, fn, "op", "nn_binary_op");
    const Tensor &ta = tensor_arg(a, fn, "a");
    const Tensor &tb = tensor_arg(b, fn, "b");
    non_null(out, fn, "out");
    give(out, binary(o, ta, tb, fn));
  });
}

NN_API nn_status nn_binary_scalar(nn_binary_op op, const nn_tensor *a, double b, nn_tensor **out) {
  const char *fn = "nn_binary_scalar";
  return guard(fn, [&] {
    BinaryOp o = enum_arg<BinaryOp>(op, NN_OP_MIN + 1, fn, "op", "nn_binary_op");
    const Tensor &ta = tensor_arg(a, fn, "a");
    non_null(out, fn, "out");
    give(out, binary_scalar(o, ta, b, fn));
  });
}

NN_API nn_status nn_reduce(nn_reduce_op op, const nn_tensor *x, int dim, bool keepdim, nn_tensor **out) {
  const char *fn = "nn_reduce";
  return guard(fn, [&] {
    ReduceOp o = enum_arg<ReduceOp>(op, NN_REDUCE_ARGMAX + 1, fn, "op", "nn_reduce_op");
    const Tensor &t = tensor_arg(x, fn, "x");
    non_null(out, fn, "out");
    give(out, reduce(o, t, dim == NN_ALL_DIMS ? kAllDims : dim, keepdim, fn));
  });
}

NN_API nn_status nn_matmul(const nn_tensor *a, const nn_tensor *b, nn_tensor **out) {
  const char *fn = "nn_matmul";
  return guard(fn, [&] {
    const Tensor &ta = tensor_arg(a, fn, "a");
    const Tensor &tb = tensor_arg(b, fn, "b");
    non_null(out, fn, "out");
    give(out, matmul(ta, tb, fn));
  });
}

NN_API nn_status nn_lstsq(const nn_tensor *a, const nn_tensor *b, nn_tensor **x) {
  const char *fn = "nn_lstsq";
  return guard(fn, [&] {
    const Tensor &ta = tensor_arg(a, fn, "a");
    const Tensor &tb = tensor_arg(b, fn, "b");
    non_null(x, fn, "x");
    give(x, lstsq(ta, tb, fn));
  });
}

}  // extern "C"
