/* A client of an installed libnn: checks that the header and the library it
 * finds agree, and that the library works from where it was installed. */
#include <nn.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  char expected[32];
  char text[64];
  const int64_t shape[] = {2};
  const nn_device cpu = {NN_CPU, 0};
  nn_tensor *t = NULL;
  nn_status s;

  snprintf(expected, sizeof expected, "%d.%d.%d", NN_VERSION_MAJOR, NN_VERSION_MINOR,
           NN_VERSION_PATCH);
  printf("libnn %s (header %s)\n", nn_version_string(), expected);
  if (strcmp(nn_version_string(), expected) != 0 ||
      nn_version() != NN_VERSION_MAJOR * 10000 + NN_VERSION_MINOR * 100 + NN_VERSION_PATCH) {
    fprintf(stderr, "consumer: header and library versions differ\n");
    return 1;
  }

  s = nn_tensor_full(NN_F32, 1, shape, 1.5, cpu, &t);
  if (s == NN_OK) s = nn_tensor_to_string(t, text, sizeof text, NULL);
  nn_tensor_free(t);
  if (s != NN_OK) {
    fprintf(stderr, "consumer: %s: %s\n", nn_status_string(s), nn_last_error());
    return 1;
  }
  printf("%s\n", text);
  return strcmp(text, "tensor([1.5000, 1.5000])") == 0 ? 0 : 1;
}
