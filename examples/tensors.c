/* tensors.c: the first steps of an introductory deep-learning course, in C.
 *
 * Vectors and matrices as tensors, a dot product, broadcasting, elementwise
 * operations, matrix products, a matrix of training examples times a weight
 * vector, and a dtype conversion. Each result is printed the way PyTorch's
 * print() shows it, so the output can be compared line by line with the
 * course's notebooks.
 *
 * Every libnn call returns a status; CHECK stops the program with the
 * library's message if one fails. Build and run: bash scripts/demo.sh
 */
#include <nn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                          \
  do {                                                                       \
    nn_status check_status_ = (call);                                        \
    if (check_status_ != NN_OK) {                                            \
      fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__,      \
              #call, nn_status_string(check_status_), nn_last_error());      \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

/* Print "name = tensor(...)", or the tensor on its own lines when it needs
 * more than one. */
static void show(const char *name, const nn_tensor *t) {
  size_t needed = 0;
  char *text;
  CHECK(nn_tensor_to_string(t, NULL, 0, &needed)); /* ask for the length */
  text = malloc(needed);
  if (text == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  CHECK(nn_tensor_to_string(t, text, needed, NULL));
  printf(strchr(text, '\n') ? "%s =\n%s\n\n" : "%s = %s\n\n", name, text);
  free(text);
}

int main(void) {
  const nn_device cpu = {NN_CPU, 0};
  nn_tensor *x, *y, *A, *t, *X, *w, *w_col, *train, *weights;

  printf("libnn %s\n\n", nn_version_string());

  /* Vectors: x = torch.tensor([1, 2, 3]) */
  {
    const int64_t xv[] = {1, 2, 3}, yv[] = {4, 5, 6}, shape[] = {3};
    CHECK(nn_tensor_from_data(NN_I64, 1, shape, xv, cpu, &x));
    CHECK(nn_tensor_from_data(NN_I64, 1, shape, yv, cpu, &y));
  }
  show("x", x);

  /* The dot product: matmul of two vectors is a 0-dim tensor. */
  CHECK(nn_matmul(x, x, &t));
  show("x . x", t);
  nn_tensor_free(t);

  /* Broadcasting: a [2, 3] matrix plus a [3] vector adds x to every row. */
  {
    const int64_t av[] = {4, 5, 6, 7, 8, 9}, shape[] = {2, 3};
    CHECK(nn_tensor_from_data(NN_I64, 2, shape, av, cpu, &A));
  }
  show("A", A);
  CHECK(nn_binary(NN_OP_ADD, A, x, &t));
  show("A + x", t);
  nn_tensor_free(t);

  /* Elementwise product, and a scalar broadcast to every element. */
  CHECK(nn_binary(NN_OP_MUL, x, y, &t));
  show("x * y", t);
  nn_tensor_free(t);
  CHECK(nn_binary_scalar(NN_OP_ADD, x, 1, &t));
  show("x + 1", t);
  nn_tensor_free(t);

  /* X = torch.arange(6).view(2, 3); X.matmul(w) with w = [1, 2, 3] */
  {
    const int64_t shape[] = {2, 3}, col[] = {-1, 1};
    CHECK(nn_tensor_arange(0, 6, 1, NN_I64, cpu, &t));
    CHECK(nn_tensor_reshape(t, 2, shape, &X)); /* shares t's storage */
    nn_tensor_free(t);
    CHECK(nn_tensor_clone(x, &w));
    CHECK(nn_tensor_reshape(w, 2, col, &w_col));
  }
  show("X", X);
  CHECK(nn_matmul(X, w, &t)); /* matrix-vector: a vector */
  show("X @ w", t);
  nn_tensor_free(t);
  CHECK(nn_matmul(X, w_col, &t)); /* matrix-matrix: a column */
  show("X @ w.view(-1, 1)", t);
  nn_tensor_free(t);

  /* A matrix of training examples (one per row, two features each) times a
   * weight vector, plus a bias: the net input z = X w + b of a linear neuron. */
  {
    const float xv[] = {1.2f, 2.2f, 4.4f, 5.5f, 2.0f, 1.0f}, wv[] = {0.5f, 2.0f};
    const int64_t xshape[] = {3, 2}, wshape[] = {2};
    nn_tensor *xw;
    CHECK(nn_tensor_from_data(NN_F32, 2, xshape, xv, cpu, &train));
    CHECK(nn_tensor_from_data(NN_F32, 1, wshape, wv, cpu, &weights));
    show("X_train", train);
    show("w", weights);
    CHECK(nn_matmul(train, weights, &xw));
    CHECK(nn_binary_scalar(NN_OP_ADD, xw, 1.0, &t));
    nn_tensor_free(xw);
    show("z", t);
    nn_tensor_free(t);
  }

  /* Conversion: int64 -> float64, as x.to(torch.float64). */
  CHECK(nn_tensor_to_dtype(x, NN_F64, &t));
  show("x.to(torch.float64)", t);
  nn_tensor_free(t);

  nn_tensor_free(weights);
  nn_tensor_free(train);
  nn_tensor_free(w_col);
  nn_tensor_free(w);
  nn_tensor_free(X);
  nn_tensor_free(A);
  nn_tensor_free(y);
  nn_tensor_free(x);
  return 0;
}
