#include "runtime/quant/gptq.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

extern "C" {
// LAPACK through OpenBLAS (the Fortran interface, trailing hidden string lengths included).
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info, size_t uplo_len,
             size_t diag_len);
}

namespace golf {

namespace {

using Matrix = std::vector<double>;  // row-major n×n

int lapack_int(int64_t v) {
  if (v > INT_MAX) throw std::length_error("gptq: " + std::to_string(v) + " columns exceed the LAPACK int range");
  return int(v);
}

// Row-major lower Cholesky factor of the symmetric `a` in place (only the lower triangle is
// meaningful afterwards); false if `a` is not positive definite. A row-major lower triangle is
// LAPACK's column-major upper one: A = UᵀU there is A = L·Lᵀ here.
bool cholesky_lower(Matrix& a, int64_t n) {
  if (n == 0) return true;
  int nn = lapack_int(n), info = 0;
  dpotrf_("U", &nn, a.data(), &nn, &info, 1);
  return info == 0;
}

// In-place inverse of the row-major lower-triangular factor (LAPACK's column-major upper).
void invert_lower(Matrix& l, int64_t n) {
  if (n == 0) return;
  int nn = lapack_int(n), info = 0;
  dtrtri_("U", "N", &nn, l.data(), &nn, &info, 1, 1);
  if (info != 0) throw std::runtime_error("gptq: singular Cholesky factor (dtrtri info " + std::to_string(info) + ")");
}

}  // namespace

QTensor gptq_quantize(const std::string& name, const Tensor& w_in, const Tensor& hessian, const QuantSpec& spec,
                      double damp, int64_t block, GptqReport* report) {
  const std::string who = "gptq '" + name + "': ";
  if (w_in.rank() != 2) throw std::invalid_argument(who + "weight must be 2-D, got " + shape_str(w_in.shape()));
  if (!dtype_is_float(w_in.dtype())) throw std::invalid_argument(who + "weight must be float");
  const int64_t rows = w_in.dim(0), cols = w_in.dim(1);
  if (hessian.shape() != Shape{cols, cols})
    throw std::invalid_argument(who + "Hessian must be " + shape_str({cols, cols}) + ", got " + shape_str(hessian.shape()));
  if (hessian.dtype() != DType::f64 && hessian.dtype() != DType::f32)
    throw std::invalid_argument(who + "Hessian must be f64 or f32");
  if (!(damp >= 0)) throw std::invalid_argument(who + "damp must be >= 0");
  if (block < 1) throw std::invalid_argument(who + "block must be >= 1");
  const std::string encoding = canonical_encoding(spec.encoding);
  const int bits = encoding_bits(encoding);
  Tensor w32 = w_in.dtype() == DType::f32 ? w_in : w_in.to(DType::f32);
  if (bits == 0) return quantize(name, w32, spec);

  QTensor out;
  out.name = name;
  out.shape = w_in.shape();
  out.encoding = encoding;
  out.bits = bits;
  out.per_row = spec.per_row;
  const float* w0 = w32.data<float>();
  try {
    out.scales = spec.per_row ? choose_scales(w0, rows, cols, bits, spec) : choose_scales(w0, 1, rows * cols, bits, spec);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(who + e.what());
  }
  const int qmax = (1 << (bits - 1)) - 1;
  GptqReport rep;

  // Dead columns, then the act-order permutation (stable, so ties keep their order).
  std::vector<double> diag(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; i++) diag[size_t(i)] = hessian.get(i * cols + i);
  for (int64_t i = 0; i < cols * cols; i++)
    if (!std::isfinite(hessian.get(i))) throw std::invalid_argument(who + "the Hessian has a non-finite entry");
  std::vector<bool> dead(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; i++)
    if (diag[size_t(i)] == 0) dead[size_t(i)] = true, diag[size_t(i)] = 1, rep.dead_columns++;
  std::vector<int64_t> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return diag[size_t(a)] > diag[size_t(b)]; });

  // H in permuted order, then reversed (J·H·J) so that the lower Cholesky factor of it gives the
  // upper factor of H⁻¹ by one triangular inverse: H = R·Rᵀ with R = J·L·J upper, H⁻¹ = UᵀU with
  // U = R⁻¹ = J·L⁻¹·J.
  Matrix hr(size_t(cols * cols));
  for (int64_t a = 0; a < cols; a++)
    for (int64_t b = 0; b < cols; b++) {
      int64_t pa = perm[size_t(cols - 1 - a)], pb = perm[size_t(cols - 1 - b)];
      double h = hessian.get(pa * cols + pb);
      if (pa == pb && dead[size_t(pa)]) h = 1;
      hr[size_t(a * cols + b)] = h;
    }
  double mean_diag = 0;
  for (int64_t i = 0; i < cols; i++) mean_diag += hr[size_t(i * cols + i)];
  mean_diag /= double(std::max<int64_t>(cols, 1));
  double d = damp * mean_diag;
  Matrix l;
  for (;; rep.retries++) {
    l = hr;
    for (int64_t i = 0; i < cols; i++) l[size_t(i * cols + i)] += d;
    if (cholesky_lower(l, cols)) break;
    if (rep.retries == 6)
      throw std::runtime_error(who + "the Hessian is not positive definite even with damping " + std::to_string(d));
    d = d > 0 ? d * 10 : 1e-8 * std::max(mean_diag, 1e-30);
  }
  rep.damp = d;
  hr.clear();
  hr.shrink_to_fit();
  invert_lower(l, cols);
  Matrix u(size_t(cols * cols), 0.0);
  for (int64_t i = 0; i < cols; i++)
    for (int64_t j = i; j < cols; j++) u[size_t(i * cols + j)] = l[size_t((cols - 1 - i) * cols + (cols - 1 - j))];
  l.clear();
  l.shrink_to_fit();

  // W in permuted column order, dead columns zeroed.
  Matrix wp(size_t(rows * cols));
  for (int64_t r = 0; r < rows; r++)
    for (int64_t a = 0; a < cols; a++) {
      int64_t c = perm[size_t(a)];
      wp[size_t(r * cols + a)] = dead[size_t(c)] ? 0.0 : double(w0[r * cols + c]);
    }
  out.q.assign(size_t(rows * cols), 0);
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  Matrix err(size_t(rows * block));
  for (int64_t i1 = 0; i1 < cols; i1 += block) {
    const int64_t i2 = std::min(i1 + block, cols), nb = i2 - i1;
    // Within the block, column by column; rows are independent, each run by one thread.
#pragma omp parallel for schedule(static) if (rows * nb * nb > (1 << 18))
    for (int64_t r = 0; r < rows; r++) {
      const float s = f16_to_f32(out.scales[spec.per_row ? size_t(r) : 0]);
      double* wr = &wp[size_t(r * cols)];
      double* er = &err[size_t(r * nb)];
      int8_t* qr = &out.q[size_t(r * cols)];
      double loss = 0;
      for (int64_t i = i1; i < i2; i++) {
        const double* ui = &u[size_t(i * cols)];
        int8_t q = quantize_value(wr[i], s, qmax);
        qr[perm[size_t(i)]] = q;
        double e = (wr[i] - double(dequant_value(q, s))) / ui[i];
        loss += e * e / 2;
        er[i - i1] = e;
        for (int64_t j = i + 1; j < i2; j++) wr[j] -= e * ui[j];
      }
      row_loss[size_t(r)] += loss;
    }
    // The block's errors reach every later column at once (the lazy batch update):
    // W[:, i2:] -= Err · U[i1:i2, i2:].
    if (i2 < cols && rows > 0)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, lapack_int(rows), lapack_int(cols - i2), lapack_int(nb),
                  -1.0, err.data(), lapack_int(nb), &u[size_t(i1 * cols + i2)], lapack_int(cols), 1.0,
                  &wp[size_t(i2)], lapack_int(cols));
  }
  for (double x : row_loss) rep.loss += x;
  if (report) *report = rep;
  return out;
}

}  // namespace golf
