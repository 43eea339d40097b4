/* The few ONNX Runtime C API entry points tests/bench/bench_cpu.c calls, for
 * a libonnxruntime.so it dlopens at run time (the pip wheel ships the library
 * but no headers).
 *
 * OrtGetApiBase()->GetApi(version) returns a `const OrtApi *`: a struct of
 * function pointers whose order is fixed and append-only across releases.
 * The slot indexes below were read from include/onnxruntime/core/session/
 * onnxruntime_c_api.h of microsoft/onnxruntime at ORT_API_VERSION 13
 * (commit 0017800f6539412b364502d8b59c11463a6411e6); every slot used here
 * exists since API version 1, so asking for version 13 works with any
 * runtime from 1.13 on (1.32 here). Unused slots are padding; the
 * typedef-array checks at the end pin each named slot to its index.
 * bench_cpu.c also checks at run time that the table behaves (an error code
 * and message for a missing model file, Run's output equal to libnn's). */
#ifndef NN_BENCH_ORT_C_API_H
#define NN_BENCH_ORT_C_API_H

#include <stddef.h>
#include <stdint.h>

#define NN_ORT_API_VERSION 13u

typedef struct OrtEnv OrtEnv;
typedef struct OrtStatus OrtStatus; /* NULL: success */
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtSession OrtSession;
typedef struct OrtValue OrtValue;
typedef struct OrtRunOptions OrtRunOptions;
typedef struct OrtSessionOptions OrtSessionOptions;

enum { ORT_LOGGING_LEVEL_WARNING = 2, ORT_LOGGING_LEVEL_ERROR = 3 };          /* OrtLoggingLevel */
enum { ORT_NO_SUCHFILE = 3 };                                                 /* OrtErrorCode */
enum { ORT_SEQUENTIAL = 0 };                                                  /* ExecutionMode */
enum { ORT_ENABLE_ALL = 99 };                                                 /* GraphOptimizationLevel */
enum { OrtArenaAllocator = 1 };                                               /* OrtAllocatorType */
enum { OrtMemTypeDefault = 0 };                                               /* OrtMemType */
enum { ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT = 1 };                             /* ONNXTensorElementDataType */

typedef void (*OrtUnusedSlot)(void);

typedef struct OrtApi {
  OrtUnusedSlot s0_1[2]; /* 0 CreateStatus, 1 GetErrorCode (declared below) */
  const char *(*GetErrorMessage)(const OrtStatus *status);                      /* 2 */
  OrtStatus *(*CreateEnv)(int log_severity_level, const char *logid, OrtEnv **out); /* 3 */
  OrtUnusedSlot s4_6[3];
  OrtStatus *(*CreateSession)(const OrtEnv *env, const char *model_path, const OrtSessionOptions *options,
                              OrtSession **out); /* 7 */
  OrtUnusedSlot s8;
  OrtStatus *(*Run)(OrtSession *session, const OrtRunOptions *run_options, const char *const *input_names,
                    const OrtValue *const *inputs, size_t input_len, const char *const *output_names,
                    size_t output_names_len, OrtValue **outputs);         /* 9 */
  OrtStatus *(*CreateSessionOptions)(OrtSessionOptions **options);        /* 10 */
  OrtUnusedSlot s11_12[2];
  OrtStatus *(*SetSessionExecutionMode)(OrtSessionOptions *options, int execution_mode); /* 13 */
  OrtUnusedSlot s14_22[9];
  OrtStatus *(*SetSessionGraphOptimizationLevel)(OrtSessionOptions *options, int level); /* 23 */
  OrtStatus *(*SetIntraOpNumThreads)(OrtSessionOptions *options, int n);                 /* 24 */
  OrtStatus *(*SetInterOpNumThreads)(OrtSessionOptions *options, int n);                 /* 25 */
  OrtUnusedSlot s26_48[23];
  OrtStatus *(*CreateTensorWithDataAsOrtValue)(const OrtMemoryInfo *info, void *p_data, size_t p_data_len,
                                               const int64_t *shape, size_t shape_len, int type,
                                               OrtValue **out); /* 49 */
  OrtUnusedSlot s50;
  OrtStatus *(*GetTensorMutableData)(OrtValue *value, void **out); /* 51 */
  OrtUnusedSlot s52_68[17];
  OrtStatus *(*CreateCpuMemoryInfo)(int allocator_type, int mem_type, OrtMemoryInfo **out); /* 69 */
  OrtUnusedSlot s70_91[22];
  void (*ReleaseEnv)(OrtEnv *);               /* 92 */
  void (*ReleaseStatus)(OrtStatus *);         /* 93 */
  void (*ReleaseMemoryInfo)(OrtMemoryInfo *); /* 94 */
  void (*ReleaseSession)(OrtSession *);       /* 95 */
  void (*ReleaseValue)(OrtValue *);           /* 96 */
  OrtUnusedSlot s97_99[3];
  void (*ReleaseSessionOptions)(OrtSessionOptions *); /* 100 */
} OrtApi;

/* Slot 1, read through the padding: OrtErrorCode GetErrorCode(const OrtStatus *). */
typedef int (*OrtGetErrorCodeFn)(const OrtStatus *status);

typedef struct OrtApiBase {
  const OrtApi *(*GetApi)(uint32_t version);
  const char *(*GetVersionString)(void);
} OrtApiBase;

typedef const OrtApiBase *(*OrtGetApiBaseFn)(void); /* the library's one exported entry point */

#define NN_ORT_SLOT_(field, index) \
  typedef char nn_ort_slot_##field[offsetof(OrtApi, field) == (index) * sizeof(void (*)(void)) ? 1 : -1]
NN_ORT_SLOT_(GetErrorMessage, 2);
NN_ORT_SLOT_(CreateEnv, 3);
NN_ORT_SLOT_(CreateSession, 7);
NN_ORT_SLOT_(Run, 9);
NN_ORT_SLOT_(CreateSessionOptions, 10);
NN_ORT_SLOT_(SetSessionExecutionMode, 13);
NN_ORT_SLOT_(SetSessionGraphOptimizationLevel, 23);
NN_ORT_SLOT_(SetIntraOpNumThreads, 24);
NN_ORT_SLOT_(SetInterOpNumThreads, 25);
NN_ORT_SLOT_(CreateTensorWithDataAsOrtValue, 49);
NN_ORT_SLOT_(GetTensorMutableData, 51);
NN_ORT_SLOT_(CreateCpuMemoryInfo, 69);
NN_ORT_SLOT_(ReleaseEnv, 92);
NN_ORT_SLOT_(ReleaseStatus, 93);
NN_ORT_SLOT_(ReleaseMemoryInfo, 94);
NN_ORT_SLOT_(ReleaseSession, 95);
NN_ORT_SLOT_(ReleaseValue, 96);
NN_ORT_SLOT_(ReleaseSessionOptions, 100);
#undef NN_ORT_SLOT_

#endif /* NN_BENCH_ORT_C_API_H */
