// Least squares min ||a x - b|| by Householder QR in float64 on the host.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "core/ops.hpp"

namespace nn {

namespace {

// Reads a tensor's elements as float64, row-major.
std::vector<double> host_f64(const Tensor &t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (v.empty()) return v;
  Tensor d = t.dtype() == DType::F64 ? t : to_dtype(t, DType::F64);
  to_host(d.contiguous(), v.data());
  return v;
}

bool all_finite(const std::vector<double> &v) {
  for (double x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

// e with 2^(e-1) <= max |v| < 2^e: dividing by 2^e (exact) brings the entries
// into [-1, 1] and keeps their squares away from overflow.
int pow2_exponent(const std::vector<double> &v) {
  double mx = 0;
  for (double x : v) mx = std::max(mx, std::fabs(x));
  if (mx == 0) return 0;
  int e;
  std::frexp(mx, &e);
  return e;
}

}  // namespace

Tensor lstsq(const Tensor &a, const Tensor &b, const char *what) {
  check_same_device(a, b, what);
  if (a.ndim() != 2 || (b.ndim() != 1 && b.ndim() != 2))
    fail(Errc::Shape, "%s: a must be 2-D [n, m] and b 1-D [n] or 2-D [n, k]; got a %s and b %s", what,
         a.shape().str().c_str(), b.shape().str().c_str());
  const int64_t n = a.dim(0), m = a.dim(1);
  if (b.dim(0) != n)
    fail(Errc::Shape, "%s: a has %lld rows but b has %lld (a %s, b %s)", what, static_cast<long long>(n),
         static_cast<long long>(b.dim(0)), a.shape().str().c_str(), b.shape().str().c_str());
  if (n < m)
    fail(Errc::InvalidArgument,
         "%s: a %s has fewer rows than columns: the system is underdetermined (need n >= m)", what,
         a.shape().str().c_str());
  const int64_t k = b.ndim() == 2 ? b.dim(1) : 1;

  DType out_dt = promote_types(a.dtype(), b.dtype());
  if (!is_floating(out_dt)) out_dt = DType::F32;

  std::vector<double> av = host_f64(a);  // [n, m] row-major
  std::vector<double> bv = host_f64(b);  // [n, k] row-major
  if (!all_finite(av)) fail(Errc::InvalidArgument, "%s: a contains NaN or Inf", what);
  if (!all_finite(bv)) fail(Errc::InvalidArgument, "%s: b contains NaN or Inf", what);

  const size_t N = static_cast<size_t>(n), M = static_cast<size_t>(m), K = static_cast<size_t>(k);
  // Column-major copies scaled by powers of two: a / 2^ea, b / 2^eb (exact; R
  // scales uniformly, so the rank test is unaffected; x = x_scaled * 2^(eb-ea)).
  const int ea = pow2_exponent(av), eb = pow2_exponent(bv);
  std::vector<double> A(N * M), B(N * K);
  for (size_t i = 0; i < N; ++i) {
    for (size_t j = 0; j < M; ++j) A[j * N + i] = std::ldexp(av[i * M + j], -ea);
    for (size_t j = 0; j < K; ++j) B[j * N + i] = std::ldexp(bv[i * K + j], -eb);
  }

  // Householder QR: column j is reduced by H_j = I - tau v v^T with v[j] = 1;
  // the same reflections are applied to B, giving Q^T b.
  std::vector<double> rdiag(M);
  std::vector<double> v(N);
  auto reflect = [&](double *col, size_t j, double tau) {
    double w = 0;
    for (size_t i = j; i < N; ++i) w += v[i] * col[i];
    w *= tau;
    if (w == 0) return;
    for (size_t i = j; i < N; ++i) col[i] -= w * v[i];
  };
  for (size_t j = 0; j < M; ++j) {
    double *cj = A.data() + j * N;
    double sumsq = 0;
    for (size_t i = j; i < N; ++i) sumsq += cj[i] * cj[i];
    double norm = std::sqrt(sumsq);
    if (norm == 0) {
      rdiag[j] = 0;
      continue;
    }
    double x0 = cj[j];
    double beta = x0 >= 0 ? -norm : norm;
    double denom = x0 - beta;  // |x0| + norm, no cancellation
    v[j] = 1;
    for (size_t i = j + 1; i < N; ++i) v[i] = cj[i] / denom;
    double tau = (beta - x0) / beta;
    cj[j] = beta;
    for (size_t i = j + 1; i < N; ++i) cj[i] = 0;
    rdiag[j] = beta;
    for (size_t c = j + 1; c < M; ++c) reflect(A.data() + c * N, j, tau);
    for (size_t c = 0; c < K; ++c) reflect(B.data() + c * N, j, tau);
  }

  double rmax = 0;
  for (double r : rdiag) rmax = std::max(rmax, std::fabs(r));
  const double tol = static_cast<double>(std::max(n, m)) * DBL_EPSILON * rmax;
  for (size_t j = 0; j < M; ++j) {
    if (std::fabs(rdiag[j]) <= tol)
      fail(Errc::InvalidArgument,
           "%s: a %s is rank deficient (|R[%zu, %zu]| = %g <= %g): its columns are linearly dependent",
           what, a.shape().str().c_str(), j, j, std::ldexp(std::fabs(rdiag[j]), ea), std::ldexp(tol, ea));
  }

  // Back substitution R x = (Q^T b)[0:m], one right-hand side at a time.
  std::vector<double> x(M * K);  // row-major [m, k]
  for (size_t c = 0; c < K; ++c) {
    const double *y = B.data() + c * N;
    std::vector<double> xc(M);
    for (size_t ii = M; ii-- > 0;) {
      double s = y[ii];
      for (size_t j = ii + 1; j < M; ++j) s -= A[j * N + ii] * xc[j];
      xc[ii] = s / A[ii * N + ii];
    }
    for (size_t i = 0; i < M; ++i) x[i * K + c] = std::ldexp(xc[i], eb - ea);
  }

  Shape out_shape = b.ndim() == 2 ? Shape{m, k} : Shape{m};
  double none = 0;  // a valid source pointer even when the result is empty
  Tensor r = from_host(DType::F64, out_shape, x.empty() ? &none : x.data(), Device{});
  if (out_dt != DType::F64) r = to_dtype(r, out_dt);
  if (a.device() != r.device()) r = to_device(r, a.device());
  return r;
}

}  // namespace nn
