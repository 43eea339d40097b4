/* nn: the libnn command-line tool (train, predict, eval, inspect, convert).
 *
 * A client of the public C API like any other: it includes only <nn.h> and
 * links only libnn. `nn --help` and `nn <verb> --help` describe everything;
 * README.md ("The nn command") shows examples. Exit codes: see EXIT_* below
 * and `nn --help`.
 */
#define _POSIX_C_SOURCE 200809L
#include <nn.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- exit codes ------------------------------------------------------------- */
enum {
  EXIT_OK = 0,          /* success */
  EXIT_ERROR = 1,       /* a file could not be read/written, bad data, a libnn error */
  EXIT_USAGE = 2,       /* unknown verb or option, bad option value, missing argument */
  EXIT_NOT_FINITE = 3,  /* training diverged (loss or weights not finite); weights rolled back */
  EXIT_BELOW = 4,       /* nn eval: a --min-* threshold was not met */
  EXIT_INTERRUPTED = 130 /* SIGINT during training: stopped after the epoch, model saved */
};

static const char *g_verb = "nn";

/* Prints "nn <verb>: message" to stderr. */
static void say(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "nn %s: ", g_verb);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* A libnn failure: its message names the function, the file and (CSV) line and column. */
static int nn_fail(nn_status st) {
  say("%s (%s)", nn_last_error(), nn_status_string(st));
  if (st == NN_ERR_NOT_FINITE) return EXIT_NOT_FINITE;
  if (st == NN_ERR_CANCELLED) return EXIT_INTERRUPTED;
  return EXIT_ERROR;
}

/* The same for a call about one file: the message names the file. */
static int nn_fail_file(const char *path, nn_status st) {
  if (strstr(nn_last_error(), path) == NULL) {
    say("%s: %s (%s)", path, nn_last_error(), nn_status_string(st));
    return st == NN_ERR_NOT_FINITE ? EXIT_NOT_FINITE : EXIT_ERROR;
  }
  return nn_fail(st);
}

#define TRY(call)                          \
  do {                                     \
    nn_status try_st_ = (call);            \
    if (try_st_ != NN_OK) {                \
      rc = nn_fail(try_st_);               \
      goto done;                           \
    }                                      \
  } while (0)

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- options ---------------------------------------------------------------- */

typedef struct opt {
  const char *name;  /* "--lr" */
  const char *arg;   /* metavar, NULL for a flag */
  const char *help;
  const char *value; /* parsed value ("1" for a set flag), NULL when absent */
} opt;

typedef struct verb {
  const char *name;
  const char *usage;   /* after "nn <verb> " */
  const char *summary;
  const char *details; /* printed after the options */
  opt *opts;
  int n_opts;
  int n_pos_min, n_pos_max;
  int (*run)(struct verb *v, int npos, char **pos);
} verb;

static opt *find_opt(verb *v, const char *name) {
  for (int i = 0; i < v->n_opts; ++i)
    if (strcmp(v->opts[i].name, name) == 0) return &v->opts[i];
  return NULL;
}

static const char *get(verb *v, const char *name) { return find_opt(v, name)->value; }
static int flag(verb *v, const char *name) { return find_opt(v, name)->value != NULL; }

static void print_help(const verb *v, FILE *f) {
  fprintf(f, "usage: nn %s %s\n\n%s\n\noptions:\n", v->name, v->usage, v->summary);
  for (int i = 0; i < v->n_opts; ++i) {
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", v->opts[i].name, v->opts[i].arg ? " " : "",
             v->opts[i].arg ? v->opts[i].arg : "");
    fprintf(f, "  %-24s %s\n", left, v->opts[i].help);
  }
  fprintf(f, "  %-24s %s\n", "-h, --help", "show this help and exit");
  if (v->details) fprintf(f, "\n%s", v->details);
}

/* Parses argv (after the verb) into v's options and positional arguments. */
static int parse_args(verb *v, int argc, char **argv, int *npos, char **pos, int *help) {
  *npos = 0;
  *help = 0;
  int only_pos = 0;
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i];
    if (!only_pos && strcmp(a, "--") == 0) {
      only_pos = 1;
      continue;
    }
    if (!only_pos && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
      *help = 1;
      return EXIT_OK;
    }
    if (!only_pos && a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9')) {
      char name[64];
      const char *eq = strchr(a, '=');
      size_t len = eq ? (size_t)(eq - a) : strlen(a);
      if (len >= sizeof name) len = sizeof name - 1;
      memcpy(name, a, len);
      name[len] = '\0';
      if (strcmp(name, "-o") == 0) strcpy(name, "--output");
      opt *o = find_opt(v, name);
      if (!o) {
        say("unknown option %s (see nn %s --help)", name, v->name);
        return EXIT_USAGE;
      }
      if (!o->arg) {
        if (eq) {
          say("%s takes no value", name);
          return EXIT_USAGE;
        }
        o->value = "1";
      } else if (eq) {
        o->value = eq + 1;
      } else if (i + 1 < argc) {
        o->value = argv[++i];
      } else {
        say("%s needs a value (%s)", name, o->arg);
        return EXIT_USAGE;
      }
      continue;
    }
    if (*npos >= v->n_pos_max) {
      say("unexpected argument '%s' (see nn %s --help)", a, v->name);
      return EXIT_USAGE;
    }
    pos[(*npos)++] = argv[i];
  }
  if (*npos < v->n_pos_min) {
    say("missing argument: usage: nn %s %s", v->name, v->usage);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

/* Option values: each returns 0 and sets *out, or prints why and returns EXIT_USAGE. */
static int opt_double(verb *v, const char *name, double dflt, double *out) {
  const char *s = get(v, name);
  if (!s) {
    *out = dflt;
    return 0;
  }
  char *end;
  errno = 0;
  double d = strtod(s, &end);
  if (end == s || *end != '\0' || errno == ERANGE || !isfinite(d)) {
    say("%s: '%s' is not a finite number", name, s);
    return EXIT_USAGE;
  }
  *out = d;
  return 0;
}

static int opt_int(verb *v, const char *name, long long dflt, long long lo, long long hi, long long *out) {
  const char *s = get(v, name);
  if (!s) {
    *out = dflt;
    return 0;
  }
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (end == s || *end != '\0' || errno == ERANGE || x < lo || x > hi) {
    say("%s: '%s' is not an integer in %lld..%lld", name, s, lo, hi);
    return EXIT_USAGE;
  }
  *out = x;
  return 0;
}

/* One of `names` (NULL-terminated); *out gets its index. */
static int opt_choice(verb *v, const char *name, const char *const *names, int dflt, int *out) {
  const char *s = get(v, name);
  if (!s) {
    *out = dflt;
    return 0;
  }
  for (int i = 0; names[i]; ++i)
    if (strcmp(s, names[i]) == 0) {
      *out = i;
      return 0;
    }
  char list[256] = "";
  for (int i = 0; names[i]; ++i) {
    strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
    strncat(list, names[i], sizeof list - strlen(list) - 1);
  }
  say("%s: '%s' is not one of %s", name, s, list);
  return EXIT_USAGE;
}

static int opt_device(verb *v, nn_device *dev) {
  const char *s = get(v, "--device");
  dev->type = NN_CPU;
  dev->index = 0;
  if (!s || strcmp(s, "cpu") == 0) return 0;
  if (strncmp(s, "cuda", 4) == 0) {
    dev->type = NN_CUDA;
    if (s[4] == '\0') return 0;
    char *end;
    long i = s[4] == ':' ? strtol(s + 5, &end, 10) : -1;
    if (s[4] == ':' && end != s + 5 && *end == '\0' && i >= 0 && i < 1024) {
      dev->index = (int32_t)i;
      return 0;
    }
  }
  say("--device: '%s' is not cpu, cuda or cuda:N", s);
  return EXIT_USAGE;
}

static const char *const k_dtypes[] = {"f32", "f64", "f16", "bf16", "u8", "i16", "i32", "i64", NULL};
static const char *const k_acts[] = {"identity", "relu", "sigmoid", "tanh", "step", "softmax", "leaky_relu", NULL};
static const char *const k_losses[] = {"mse", "sse", "half_mse", "bce", "bce_logits", "cross_entropy", NULL};

/* ---- data --------------------------------------------------------------------- */

/* Loads a .npy or CSV file (by extension: .npy, else CSV) as a tensor of dt
 * (NN_F32 for features), on the CPU. */
static nn_status load_table(const char *path, char delim, int skip, nn_dtype dt, nn_tensor **out) {
  nn_device cpu = {NN_CPU, 0};
  if (ends_with(path, ".npy")) {
    nn_tensor *t = NULL;
    nn_status st = nn_tensor_load_npy(path, cpu, &t);
    if (st != NN_OK) return st;
    if (nn_tensor_dtype(t) == dt) {
      *out = t;
      return NN_OK;
    }
    st = nn_tensor_to_dtype(t, dt, out);
    nn_tensor_free(t);
    return st;
  }
  return nn_tensor_load_csv(path, delim, skip, dt, cpu, out);
}

static int csv_opts(verb *v, char *delim, int *skip) {
  const char *d = get(v, "--delimiter");
  *delim = ',';
  if (d) {
    if (strcmp(d, "tab") == 0 || strcmp(d, "\\t") == 0) *delim = '\t';
    else if (strcmp(d, "space") == 0) *delim = ' ';
    else if (strlen(d) == 1) *delim = d[0];
    else {
      say("--delimiter: '%s' is not one character (or tab, space)", d);
      return EXIT_USAGE;
    }
  }
  long long s;
  int rc = opt_int(v, "--skip-rows", flag(v, "--header") ? 1 : 0, 0, 1000000, &s);
  *skip = (int)s;
  return rc;
}

/* The 1-based line of data row `row` of a CSV file (skipping `skip` lines
 * and blank lines, as nn_tensor_load_csv does); 0 when unknown (.npy). */
static long long line_of_row(const char *path, int skip, long long row) {
  if (ends_with(path, ".npy")) return 0;
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  long long line = 0, data_row = -1;
  int c, blank = 1, any = 0;
  while ((c = fgetc(f)) != EOF || any) {
    if (c == EOF || c == '\n') {
      ++line;
      if (line > skip && !blank && ++data_row == row) break;
      blank = 1;
      any = 0;
      if (c == EOF) break;
      continue;
    }
    any = 1;
    if (c != ' ' && c != '\t' && c != '\r') blank = 0;
  }
  fclose(f);
  return data_row == row ? line : 0;
}

/* Where a data row is, for messages: "data.csv: line 12" or "data.npy: row 11". */
static void where_row(char *buf, size_t cap, const char *path, int skip, long long row) {
  long long line = line_of_row(path, skip, row);
  if (line > 0) snprintf(buf, cap, "%s: line %lld", path, line);
  else snprintf(buf, cap, "%s: row %lld", path, row);
}

typedef struct dataset {
  nn_tensor *x;      /* [n, features] F32, contiguous */
  nn_tensor *y;      /* targets (I64 [n] ids for cross-entropy, else F32 [n, k]); NULL when none */
  int64_t n, features, targets;
  int64_t classes;   /* cross-entropy: max id + 1 */
} dataset;

static void dataset_free(dataset *d) {
  nn_tensor_free(d->x);
  nn_tensor_free(d->y);
  memset(d, 0, sizeof *d);
}

/* Sets d->y from the target columns ys ([n, k] F32; col0 columns precede
 * them in the file). With ids, the one column must hold class ids 0, 1, 2, ...
 * (checked here, naming the line and column of a bad one): d->y becomes I64
 * [n] and d->classes the largest id + 1. */
static int take_targets(const nn_tensor *ys, const char *path, int skip, int64_t col0, int ids, dataset *d) {
  int rc = EXIT_OK;
  int64_t shape[2];
  nn_tensor_shape(ys, shape);
  if (!ids) {
    TRY(nn_tensor_clone(ys, &d->y));
    return EXIT_OK;
  }
  if (shape[1] != 1) {
    say("%s: class ids must be one column; got %lld", path, (long long)shape[1]);
    return EXIT_ERROR;
  }
  {
    int64_t n = shape[0];
    float *vals = malloc((size_t)(n > 0 ? n : 1) * sizeof *vals);
    int64_t *cls = malloc((size_t)(n > 0 ? n : 1) * sizeof *cls);
    nn_tensor *yc = NULL;
    nn_status st = vals && cls ? nn_tensor_clone(ys, &yc) : NN_ERR_OUT_OF_MEMORY;
    if (st == NN_OK) st = nn_tensor_read(yc, vals, (size_t)n * sizeof *vals);
    nn_tensor_free(yc);
    int64_t maxc = -1;
    for (int64_t i = 0; st == NN_OK && i < n; ++i) {
      float f = vals[i];
      if (!(f >= 0) || f != floorf(f) || f > 65535) {
        char where[512];
        where_row(where, sizeof where, path, skip, i);
        say("%s, column %lld: the label %g is not a class id (an integer 0..65535)", where, (long long)(col0 + 1),
            (double)f);
        free(vals);
        free(cls);
        return EXIT_ERROR;
      }
      cls[i] = (int64_t)f;
      if (cls[i] > maxc) maxc = cls[i];
    }
    nn_device cpu = {NN_CPU, 0};
    if (st == NN_OK) st = nn_tensor_from_data(NN_I64, 1, &n, cls, cpu, &d->y);
    free(vals);
    free(cls);
    TRY(st);
    d->classes = maxc + 1;
  }
done:
  return rc;
}

/* Reads `path` and splits off the last `targets` columns as targets. With
 * ids, the one target column must hold class ids 0, 1, 2, ... (checked
 * here, naming the line and column of a bad one). */
static int load_dataset(verb *v, const char *path, int64_t targets, int ids, dataset *d) {
  char delim;
  int skip, rc = csv_opts(v, &delim, &skip);
  if (rc) return rc;
  nn_tensor *t = NULL, *xs = NULL, *ys = NULL;
  memset(d, 0, sizeof *d);
  TRY(load_table(path, delim, skip, NN_F32, &t));
  if (nn_tensor_ndim(t) != 2) {
    int64_t shape[8];
    nn_tensor_shape(t, shape);
    say("%s: the data must be a 2-D table [rows, columns]; it has %d dimensions", path, nn_tensor_ndim(t));
    rc = EXIT_ERROR;
    goto done;
  }
  int64_t shape[2];
  nn_tensor_shape(t, shape);
  if (targets >= shape[1]) {
    say("%s: %lld columns leave no feature column after %lld target column(s)", path, (long long)shape[1],
        (long long)targets);
    rc = EXIT_ERROR;
    goto done;
  }
  d->n = shape[0];
  d->features = shape[1] - targets;
  d->targets = targets;
  TRY(nn_tensor_slice(t, 1, 0, d->features, &xs));
  TRY(nn_tensor_clone(xs, &d->x));
  if (targets > 0) {
    TRY(nn_tensor_slice(t, 1, d->features, shape[1], &ys));
    if ((rc = take_targets(ys, path, skip, d->features, ids, d))) goto done;
  }
done:
  nn_tensor_free(t);
  nn_tensor_free(xs);
  nn_tensor_free(ys);
  if (rc) dataset_free(d);
  return rc;
}

/* Writes a tensor as .npy (by extension) or CSV ("-": stdout). */
static int write_table(const nn_tensor *t, const char *path) {
  int rc = EXIT_OK;
  if (strcmp(path, "-") != 0 && ends_with(path, ".npy")) {
    TRY(nn_tensor_save_npy(t, path));
    return EXIT_OK;
  }
  {
    int nd = nn_tensor_ndim(t);
    int64_t shape[8] = {0};
    nn_tensor_shape(t, shape);
    int64_t rows = nd == 0 ? 1 : shape[0], cols = nd <= 1 ? 1 : nn_tensor_numel(t) / (rows ? rows : 1);
    int64_t n = nn_tensor_numel(t);
    nn_dtype dt = nn_tensor_dtype(t);
    int integral = dt == NN_U8 || dt == NN_I16 || dt == NN_I32 || dt == NN_I64;
    nn_tensor *c = NULL;
    TRY(nn_tensor_to_dtype(t, integral ? NN_I64 : NN_F64, &c));
    void *buf = malloc((size_t)(n > 0 ? n : 1) * 8);
    if (!buf) {
      nn_tensor_free(c);
      say("out of memory");
      return EXIT_ERROR;
    }
    nn_status st = nn_tensor_read(c, buf, (size_t)n * 8);
    nn_tensor_free(c);
    if (st != NN_OK) {
      free(buf);
      return nn_fail(st);
    }
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
      say("%s: cannot write: %s", path, strerror(errno));
      free(buf);
      return EXIT_ERROR;
    }
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < cols; ++j) {
        int64_t i = r * cols + j;
        if (integral) fprintf(f, "%s%lld", j ? "," : "", (long long)((int64_t *)buf)[i]);
        else fprintf(f, "%s%.9g", j ? "," : "", ((double *)buf)[i]);
      }
      fputc('\n', f);
    }
    free(buf);
    int bad = ferror(f);
    if (f != stdout) bad |= fclose(f) != 0;
    else bad |= fflush(f) != 0;
    if (bad) {
      say("%s: write failed", path);
      return EXIT_ERROR;
    }
  }
done:
  return rc;
}

/* In and out features of a model (its first and last Linear layers). */
static void model_io(nn_model *m, int64_t *in, int64_t *out) {
  *in = *out = 0;
  for (int i = 0; i < nn_model_num_layers(m); ++i) {
    nn_layer *l = NULL;
    if (nn_model_layer(m, i, &l) != NN_OK || nn_layer_kind_of(l) != NN_LAYER_LINEAR) continue;
    nn_tensor *w = NULL;
    if (nn_layer_param(l, NN_PARAM_WEIGHT, &w) != NN_OK) continue;
    int64_t s[2];
    nn_tensor_shape(w, s);
    if (*in == 0) *in = s[1];
    *out = s[0];
    nn_tensor_free(w);
  }
}

/* ---- progress ------------------------------------------------------------------ */

static volatile sig_atomic_t g_interrupted = 0;
static void on_sigint(int sig) {
  (void)sig;
  g_interrupted = 1;
}

typedef struct progress {
  int mode;            /* 0 none, 1 plain lines, 2 live line */
  int64_t rows;        /* training rows per epoch */
  int64_t batch;       /* batch size (0: full) */
  int epochs;
  double start;        /* monotonic seconds at fit start */
  int live_open;       /* a live line is on screen */
  double last_draw;    /* monotonic seconds of the last redraw */
} progress;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fmt_time(char *buf, size_t cap, double s) {
  if (!(s >= 0) || s > 359999) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static void fmt_rate(char *buf, size_t cap, double r) {
  if (r >= 1e6) snprintf(buf, cap, "%.1fM", r / 1e6);
  else if (r >= 1e3) snprintf(buf, cap, "%.1fk", r / 1e3);
  else snprintf(buf, cap, "%.0f", r);
}

/* The live line: "epoch 3/20 [=====>    ] 12/45 loss 0.2345 8.1k rows/s ETA 0:04". */
static void draw_live(progress *p, int epoch, int64_t batch, int64_t batches, double loss, double epoch_s) {
  const int width = 20;
  double frac = batches > 0 ? (double)batch / (double)batches : 1.0;
  double done_epochs = (double)epoch + frac;
  double elapsed = now_s() - p->start;
  double eta = done_epochs > 0 ? elapsed / done_epochs * ((double)p->epochs - done_epochs) : 0;
  int fill = (int)(frac * width);
  char bar[32], eta_s[48], rate_s[32];
  for (int i = 0; i < width; ++i) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
  bar[width] = '\0';
  int64_t rows_done = p->batch > 0 ? batch * p->batch : (batches > 0 ? p->rows * batch / batches : 0);
  if (rows_done > p->rows) rows_done = p->rows;
  fmt_rate(rate_s, sizeof rate_s, epoch_s > 0 ? (double)rows_done / epoch_s : 0);
  fmt_time(eta_s, sizeof eta_s, eta);
  char loss_s[32] = "-";
  if (!isnan(loss)) snprintf(loss_s, sizeof loss_s, "%.4g", loss);
  fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld batches  loss %s  %s rows/s  ETA %s", epoch + 1, p->epochs,
          bar, (long long)batch, (long long)batches, loss_s, rate_s, eta_s);
  p->last_draw = now_s();
  fflush(stderr);
  p->live_open = 1;
}

static int on_epoch(const nn_epoch_report *r, void *user) {
  progress *p = user;
  if (p->mode != 0) {
    char rate_s[32], line[512];
    fmt_rate(rate_s, sizeof rate_s, r->seconds > 0 ? (double)p->rows / r->seconds : 0);
    int n = snprintf(line, sizeof line, "epoch %d/%d  loss %.6g", r->epoch + 1, r->epochs, r->loss);
    if (!isnan(r->val_loss) && n < (int)sizeof line)
      n += snprintf(line + n, sizeof line - (size_t)n, "  val_loss %.6g", r->val_loss);
    if (!isnan(r->val_accuracy) && n < (int)sizeof line)
      n += snprintf(line + n, sizeof line - (size_t)n, "  val_acc %.4f", r->val_accuracy);
    if (n < (int)sizeof line)
      snprintf(line + n, sizeof line - (size_t)n, "  lr %.3g  %s rows/s  %.2fs", r->lr, rate_s, r->seconds);
    if (p->mode == 2) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "%s\n", line);
    p->live_open = 0;
    if (p->mode == 2 && r->epoch + 1 < r->epochs) {
      int64_t batches = p->batch > 0 ? (p->rows + p->batch - 1) / p->batch : 1;
      draw_live(p, r->epoch + 1, 0, batches, r->loss, 0);
    }
    fflush(stderr);
  }
  return g_interrupted ? 1 : 0;
}

#if defined(NN_FIT_OPTIONS_VERSION) && NN_FIT_OPTIONS_VERSION >= 2
/* Per-batch progress (nn_fit_options version 2): the live line follows every batch. */
static int on_batch(const nn_batch_report *r, void *user) {
  progress *p = user;
  /* at most 20 redraws a second */
  if (p->mode == 2 && (now_s() - p->last_draw >= 0.05 || r->batch + 1 == r->batches))
    draw_live(p, r->epoch, r->batch + 1, r->batches, r->loss, r->seconds);
  return g_interrupted ? 1 : 0;
}
#endif

/* Options several verbs share: the device, and how a CSV file is read. */
#define DEVICE_OPT {"--device", "DEV", "cpu, cuda or cuda:N (default cpu)", NULL}
#define CSV_OPTS                                                                         \
  {"--delimiter", "C", "CSV field separator: one character, tab or space (default ,)", NULL}, \
      {"--skip-rows", "N", "CSV lines to skip first (default 0)", NULL},                   \
      {"--header", NULL, "the CSV has one header line (--skip-rows 1)", NULL}

/* ---- nn train ------------------------------------------------------------------ */

static opt train_opts[] = {
    {"--output", "MODEL", "where to save the model (default model.safetensors); also -o", NULL},
    {"--task", "TASK", "classify (last column: class ids 0..C-1) or regress (default classify)", NULL},
    {"--targets", "N", "the last N columns are targets (default 1)", NULL},
    {"--labels", "FILE", "targets from this file instead (CSV/.npy); DATA is then all features", NULL},
    {"--layers", "LIST", "hidden layer widths, e.g. 64 or 128,64 (default 64; 0 = none)", NULL},
    {"--activation", "ACT", "hidden activation: relu, sigmoid, tanh, leaky_relu, identity (default relu)", NULL},
    {"--output-activation", "ACT", "activation after the last layer (default identity; sigmoid for bce)", NULL},
    {"--loss", "LOSS", "mse, sse, half_mse, bce, bce_logits, cross_entropy (default: cross_entropy / mse)", NULL},
    {"--init", "INIT", "torch_default, he_uniform, he_normal, xavier_uniform, xavier_normal (default torch_default)", NULL},
    {"--optimizer", "OPT", "sgd, adam or adamw (default adam)", NULL},
    {"--lr", "X", "learning rate (default 0.001 for adam/adamw, 0.01 for sgd)", NULL},
    {"--momentum", "X", "SGD momentum (default 0)", NULL},
    {"--nesterov", NULL, "SGD with Nesterov momentum", NULL},
    {"--weight-decay", "X", "L2 penalty (sgd, adam) or decoupled decay (adamw) (default 0)", NULL},
    {"--step-size", "N", "StepLR: multiply the learning rate by --gamma every N epochs (default off)", NULL},
    {"--gamma", "X", "StepLR factor (default 0.1)", NULL},
    {"--batch", "N", "batch size; 1 = online, 0 = full batch (default 32)", NULL},
    {"--epochs", "N", "epochs (default 10)", NULL},
    {"--seed", "N", "seed of the initial weights, the validation split and the shuffling (default 0)", NULL},
    {"--val-split", "F", "fraction of rows held out for validation, 0..0.9 (default 0)", NULL},
    {"--patience", "N", "early stopping: stop after N epochs without a better val_loss (needs --val-split)", NULL},
    {"--dtype", "DT", "parameter dtype: f32 or f64 (default f32)", NULL},
    DEVICE_OPT,
    CSV_OPTS,
    {"--progress", "MODE", "auto (live line on a terminal, plain lines when piped), live, plain, none", NULL},
    {"--quiet", NULL, "no progress and no summary (--progress none)", NULL},
};

static int parse_layers(const char *s, int64_t *w, int cap, int *n) {
  *n = 0;
  if (!s) {
    w[(*n)++] = 64;
    return 0;
  }
  if (strcmp(s, "0") == 0 || *s == '\0') return 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    long long x = strtoll(p, &end, 10);
    if (end == p || x < 1 || x > 1000000 || errno == ERANGE || (*end != ',' && *end != '\0') || *n >= cap) {
      say("--layers: '%s' is not a list of widths 1..1000000 such as 128,64 (at most %d)", s, cap);
      return EXIT_USAGE;
    }
    w[(*n)++] = x;
    p = *end == ',' ? end + 1 : end;
  }
  return 0;
}

/* A permutation of 0..n-1 from the seed (splitmix64 + Fisher-Yates). */
static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int run_train(verb *v, int npos, char **pos) {
  (void)npos;
  const char *data = pos[0];
  int rc = EXIT_OK, task, loss, act, out_act, optim, init, dti, pmode;
  long long targets, epochs, batch, seed, patience, step_size;
  double lr, momentum, wd, gamma, val_split;
  static const char *const tasks[] = {"classify", "regress", NULL};
  static const char *const optims[] = {"sgd", "adam", "adamw", NULL};
  static const char *const inits[] = {"torch_default", "he_uniform", "he_normal", "xavier_uniform", "xavier_normal", NULL};
  static const char *const pmodes[] = {"auto", "live", "plain", "none", NULL};
  int64_t widths[16];
  int n_hidden;
  nn_device dev;
  if ((rc = opt_choice(v, "--task", tasks, 0, &task)) || (rc = opt_choice(v, "--loss", k_losses, task == 0 ? 5 : 0, &loss)) ||
      (rc = opt_choice(v, "--activation", k_acts, 1, &act)) ||
      (rc = opt_choice(v, "--output-activation", k_acts, loss == NN_LOSS_BCE ? 2 : 0, &out_act)) ||
      (rc = opt_choice(v, "--optimizer", optims, 1, &optim)) || (rc = opt_choice(v, "--init", inits, 0, &init)) ||
      (rc = opt_choice(v, "--dtype", k_dtypes, 0, &dti)) || (rc = opt_choice(v, "--progress", pmodes, 0, &pmode)) ||
      (rc = opt_int(v, "--targets", 1, get(v, "--labels") ? 0 : 1, 1000000, &targets)) ||
      (rc = opt_int(v, "--epochs", 10, 1, 100000000, &epochs)) || (rc = opt_int(v, "--batch", 32, 0, INT64_MAX, &batch)) ||
      (rc = opt_int(v, "--seed", 0, 0, INT64_MAX, &seed)) || (rc = opt_int(v, "--patience", 0, 0, 1000000, &patience)) ||
      (rc = opt_int(v, "--step-size", 0, 0, 100000000, &step_size)) ||
      (rc = opt_double(v, "--lr", optim == 0 ? 0.01 : 0.001, &lr)) || (rc = opt_double(v, "--momentum", 0, &momentum)) ||
      (rc = opt_double(v, "--weight-decay", 0, &wd)) || (rc = opt_double(v, "--gamma", 0.1, &gamma)) ||
      (rc = opt_double(v, "--val-split", 0, &val_split)) || (rc = opt_device(v, &dev)) ||
      (rc = parse_layers(get(v, "--layers"), widths, 16, &n_hidden)))
    return rc;
  if (dti != NN_F32 && dti != NN_F64) {
    say("--dtype: parameters are f32 or f64");
    return EXIT_USAGE;
  }
  if (!(val_split >= 0 && val_split <= 0.9)) {
    say("--val-split: %g is not in 0..0.9", val_split);
    return EXIT_USAGE;
  }
  if (patience > 0 && val_split == 0) {
    say("--patience needs a validation set (--val-split)");
    return EXIT_USAGE;
  }
  if (get(v, "--labels") && get(v, "--targets")) {
    say("--labels and --targets exclude each other");
    return EXIT_USAGE;
  }
  if (flag(v, "--quiet")) pmode = 3;
  const int ids = loss == NN_LOSS_CROSS_ENTROPY;
  const char *out_path = get(v, "--output") ? get(v, "--output") : "model.safetensors";

  dataset d = {0};
  nn_model *m = NULL;
  nn_optimizer *opt = NULL;
  nn_tensor *perm = NULL, *xtr = NULL, *ytr = NULL, *xva = NULL, *yva = NULL, *tmp = NULL;
  if ((rc = load_dataset(v, data, get(v, "--labels") ? 0 : targets, ids && !get(v, "--labels"), &d))) return rc;
  if (get(v, "--labels")) {
    const char *lp = get(v, "--labels");
    char delim;
    int skip;
    nn_tensor *lt = NULL;
    csv_opts(v, &delim, &skip);
    TRY(load_table(lp, delim, skip, NN_F32, &lt));
    int64_t ls[8] = {0};
    nn_tensor_shape(lt, ls);
    if (nn_tensor_ndim(lt) == 1) {  /* a 1-D .npy of targets: one column */
      nn_tensor *r = NULL;
      int64_t s2[2] = {ls[0], 1};
      nn_status st = nn_tensor_reshape(lt, 2, s2, &r);
      nn_tensor_free(lt);
      lt = r;
      TRY(st);
      ls[1] = 1;
    }
    if (nn_tensor_ndim(lt) != 2 || ls[0] != d.n) {
      say("%s: the targets must be a table with the %lld rows of %s", lp, (long long)d.n, data);
      nn_tensor_free(lt);
      rc = EXIT_ERROR;
      goto done;
    }
    rc = take_targets(lt, lp, skip, 0, ids, &d);
    nn_tensor_free(lt);
    if (rc) goto done;
    d.targets = ls[1];
  }
  if (ids && d.targets != 1) {
    say("cross_entropy needs exactly one target column of class ids (--targets 1)");
    rc = EXIT_USAGE;
    goto done;
  }
  if (d.n < 1) {
    say("%s: no rows", data);
    rc = EXIT_ERROR;
    goto done;
  }
  const int64_t outputs = ids ? (d.classes < 2 ? 2 : d.classes) : d.targets;

  /* validation split: a seeded permutation, the first n_val rows held out */
  int64_t n_val = (int64_t)floor(val_split * (double)d.n);
  if (val_split > 0 && n_val < 1) n_val = 1;
  if (n_val >= d.n) n_val = d.n - 1;
  nn_device cpu = {NN_CPU, 0};
  if (n_val > 0) {
    int64_t *p = malloc((size_t)d.n * sizeof *p);
    if (!p) {
      say("out of memory");
      rc = EXIT_ERROR;
      goto done;
    }
    uint64_t s = (uint64_t)seed ^ 0x6e6e2d76616cULL;
    for (int64_t i = 0; i < d.n; ++i) p[i] = i;
    for (int64_t i = d.n - 1; i > 0; --i) {
      int64_t j = (int64_t)(splitmix(&s) % (uint64_t)(i + 1));
      int64_t t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    nn_status st = nn_tensor_from_data(NN_I64, 1, &d.n, p, cpu, &perm);
    free(p);
    TRY(st);
    nn_tensor *xs = NULL, *ys = NULL;
    TRY(nn_tensor_index_select(d.x, 0, perm, &xs));
    nn_status s2 = nn_tensor_index_select(d.y, 0, perm, &ys);
    if (s2 != NN_OK) {
      nn_tensor_free(xs);
      TRY(s2);
    }
    TRY(nn_tensor_slice(xs, 0, n_val, d.n, &xtr));
    TRY(nn_tensor_slice(ys, 0, n_val, d.n, &ytr));
    TRY(nn_tensor_slice(xs, 0, 0, n_val, &xva));
    TRY(nn_tensor_slice(ys, 0, 0, n_val, &yva));
    nn_tensor_free(xs);
    nn_tensor_free(ys);
  } else {
    TRY(nn_tensor_clone(d.x, &xtr));
    TRY(nn_tensor_clone(d.y, &ytr));
  }
  if (dti == NN_F64 || dev.type != NN_CPU) {
    nn_tensor **ts[4] = {&xtr, &ytr, &xva, &yva};
    for (int i = 0; i < 4; ++i) {
      if (!*ts[i]) continue;
      if (dti == NN_F64 && nn_tensor_dtype(*ts[i]) == NN_F32) {
        TRY(nn_tensor_to_dtype(*ts[i], NN_F64, &tmp));
        nn_tensor_free(*ts[i]);
        *ts[i] = tmp;
        tmp = NULL;
      }
      if (dev.type != NN_CPU) {
        TRY(nn_tensor_to_device(*ts[i], dev, &tmp));
        nn_tensor_free(*ts[i]);
        *ts[i] = tmp;
        tmp = NULL;
      }
    }
  }

  /* model and optimizer */
  int64_t sizes[18];
  int ns = 0;
  sizes[ns++] = d.features;
  for (int i = 0; i < n_hidden; ++i) sizes[ns++] = widths[i];
  sizes[ns++] = outputs;
  TRY(nn_model_mlp(ns, sizes, (nn_activation)act, (nn_activation)out_act, &m));
  TRY(nn_model_init(m, (nn_init)init, (uint64_t)seed));
  if (dti == NN_F64) TRY(nn_model_to_dtype(m, NN_F64));
  if (dev.type != NN_CPU) TRY(nn_model_to(m, dev));
  if (optim == 0) TRY(nn_optimizer_sgd(m, lr, momentum, wd, flag(v, "--nesterov"), &opt));
  else TRY(nn_optimizer_adam(m, lr, 0.9, 0.999, 1e-8, wd, optim == 2, &opt));
  if (step_size > 0) TRY(nn_optimizer_set_step_lr(opt, (int)step_size, gamma));

  progress pr;
  memset(&pr, 0, sizeof pr);
  pr.mode = pmode == 3 ? 0 : pmode == 1 ? 2 : pmode == 2 ? 1 : (isatty(STDERR_FILENO) ? 2 : 1);
  pr.rows = d.n - n_val;
  pr.batch = batch;
  pr.epochs = (int)epochs;
  nn_fit_options fo;
  nn_fit_options_init(&fo);
  fo.epochs = (int)epochs;
  fo.batch_size = batch;
  fo.seed = (uint64_t)seed;
  fo.loss = (nn_loss)loss;
  fo.val_x = xva;
  fo.val_y = yva;
  fo.patience = (int)patience;
  fo.on_epoch = on_epoch;
  fo.user_data = &pr;
#if defined(NN_FIT_OPTIONS_VERSION) && NN_FIT_OPTIONS_VERSION >= 2
  if (pr.mode == 2) {  /* about 100 redraws per epoch at most (each reads the batch loss) */
    int64_t batches = batch > 0 ? (pr.rows + batch - 1) / batch : 1;
    fo.on_batch = on_batch;
    fo.batch_every = batches > 100 ? batches / 100 : 1;
  }
#endif
  if (pr.mode != 0) {
    fprintf(stderr, "nn train: %s: %lld rows (%lld for training, %lld for validation), %lld features, %lld %s\n", data,
            (long long)d.n, (long long)pr.rows, (long long)n_val, (long long)d.features, (long long)outputs,
            ids ? "classes" : "outputs");
    if (pr.mode == 2) {
      int64_t batches = batch > 0 ? (pr.rows + batch - 1) / batch : 1;
      draw_live(&pr, 0, 0, batches, NAN, 0);
    }
  }
  struct sigaction sa, old_sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_sa);
  pr.start = now_s();
  nn_epoch_report last;
  nn_status st = nn_model_fit(m, opt, xtr, ytr, &fo, &last);
  sigaction(SIGINT, &old_sa, NULL);
  if (pr.live_open) fprintf(stderr, "\n");
  if (st != NN_OK && st != NN_ERR_CANCELLED) {
    rc = nn_fail(st);
    goto done;
  }
  nn_status save_st = nn_model_save(m, out_path);
  if (save_st != NN_OK) {
    rc = nn_fail_file(out_path, save_st);
    goto done;
  }
  if (pr.mode != 0) {
    fprintf(stderr, "nn train: %s after %d epoch(s) in %.2fs: loss %.6g", st == NN_ERR_CANCELLED ? "interrupted" : "done",
            last.epoch + 1, now_s() - pr.start, last.loss);
    if (!isnan(last.val_loss)) fprintf(stderr, ", val_loss %.6g", last.val_loss);
    if (!isnan(last.val_accuracy)) fprintf(stderr, ", val_acc %.4f", last.val_accuracy);
    fprintf(stderr, "; saved %s\n", out_path);
  }
  if (st == NN_ERR_CANCELLED) rc = EXIT_INTERRUPTED;
done:
  nn_tensor_free(tmp);
  nn_tensor_free(perm);
  nn_tensor_free(xtr);
  nn_tensor_free(ytr);
  nn_tensor_free(xva);
  nn_tensor_free(yva);
  nn_optimizer_free(opt);
  nn_model_free(m);
  dataset_free(&d);
  return rc;
}

/* ---- nn predict / eval -------------------------------------------------------- */

static int load_model_for(verb *v, const char *path, nn_model **m, nn_device *dev) {
  int rc = opt_device(v, dev);
  if (rc) return rc;
  nn_status st = nn_model_load(path, *dev, m);
  return st == NN_OK ? EXIT_OK : nn_fail_file(path, st);
}

/* x on the model's device, and in its dtype unless x holds class ids (I64). */
static int to_model(nn_model *m, nn_device dev, nn_tensor **x) {
  nn_tensor *t = NULL;
  nn_status st = NN_OK;
  if (nn_model_dtype(m) != nn_tensor_dtype(*x) && nn_tensor_dtype(*x) != NN_I64) {  /* class ids stay I64 */
    st = nn_tensor_to_dtype(*x, nn_model_dtype(m), &t);
    if (st != NN_OK) return nn_fail(st);
    nn_tensor_free(*x);
    *x = t;
  }
  if (dev.type != NN_CPU) {
    st = nn_tensor_to_device(*x, dev, &t);
    if (st != NN_OK) return nn_fail(st);
    nn_tensor_free(*x);
    *x = t;
  }
  return EXIT_OK;
}

static int check_features(nn_model *m, const char *model_path, const char *data, const dataset *d) {
  int64_t in, out;
  model_io(m, &in, &out);
  if (in != 0 && in != d->features) {
    say("%s: %lld feature columns but %s takes %lld (use --targets to leave out target columns)", data,
        (long long)d->features, model_path, (long long)in);
    return EXIT_ERROR;
  }
  return EXIT_OK;
}

static opt predict_opts[] = {
    {"--output", "FILE", "write predictions here: .npy or CSV (default -: CSV on stdout); also -o", NULL},
    {"--targets", "N", "the last N columns of DATA are targets and are ignored (default 0)", NULL},
    {"--ids", NULL, "write the class id (argmax of each row) instead of the scores", NULL},
    DEVICE_OPT,
    CSV_OPTS,
};

static int run_predict(verb *v, int npos, char **pos) {
  (void)npos;
  int rc;
  long long targets;
  nn_device dev;
  nn_model *m = NULL;
  dataset d = {0};
  nn_tensor *y = NULL, *ids = NULL;
  if ((rc = opt_int(v, "--targets", 0, 0, 1000000, &targets))) return rc;
  if ((rc = load_model_for(v, pos[0], &m, &dev))) return rc;
  if ((rc = load_dataset(v, pos[1], targets, 0, &d))) goto done;
  if ((rc = check_features(m, pos[0], pos[1], &d)) || (rc = to_model(m, dev, &d.x))) goto done;
  TRY(nn_model_forward(m, d.x, &y));
  if (flag(v, "--ids")) TRY(nn_reduce(NN_REDUCE_ARGMAX, y, -1, false, &ids));
  rc = write_table(ids ? ids : y, get(v, "--output") ? get(v, "--output") : "-");
done:
  nn_tensor_free(y);
  nn_tensor_free(ids);
  dataset_free(&d);
  nn_model_free(m);
  return rc;
}

static opt eval_opts[] = {
    {"--task", "TASK", "classify or regress (default: classify when the model has more than one output)", NULL},
    {"--targets", "N", "the last N columns are targets (default 1)", NULL},
    {"--loss", "LOSS", "loss to report (default cross_entropy / mse)", NULL},
    {"--confusion", NULL, "classify: print the confusion matrix (rows: true class)", NULL},
    {"--min-accuracy", "X", "exit 4 when the accuracy is below X", NULL},
    {"--max-rmse", "X", "exit 4 when the RMSE is above X", NULL},
    DEVICE_OPT,
    CSV_OPTS,
};

static int run_eval(verb *v, int npos, char **pos) {
  (void)npos;
  int rc, task, loss;
  long long targets;
  double min_acc, max_rmse;
  nn_device dev;
  nn_model *m = NULL;
  dataset d = {0};
  nn_tensor *y = NULL, *cm = NULL;
  static const char *const tasks[] = {"classify", "regress", NULL};
  if ((rc = opt_int(v, "--targets", 1, 1, 1000000, &targets)) || (rc = opt_double(v, "--min-accuracy", -1, &min_acc)) ||
      (rc = opt_double(v, "--max-rmse", INFINITY, &max_rmse)))
    return rc;
  if ((rc = load_model_for(v, pos[0], &m, &dev))) return rc;
  int64_t in, out;
  model_io(m, &in, &out);
  if ((rc = opt_choice(v, "--task", tasks, out > 1 ? 0 : 1, &task)) ||
      (rc = opt_choice(v, "--loss", k_losses, task == 0 ? (out > 1 ? 5 : 3) : 0, &loss)))
    goto done;
  const int ids = loss == NN_LOSS_CROSS_ENTROPY;
  if ((rc = load_dataset(v, pos[1], targets, ids, &d))) goto done;
  if ((rc = check_features(m, pos[0], pos[1], &d)) || (rc = to_model(m, dev, &d.x)) || (rc = to_model(m, dev, &d.y)))
    goto done;
  if (ids && d.classes > out) {
    say("%s: class id %lld is beyond the %lld outputs of %s", pos[1], (long long)(d.classes - 1), (long long)out,
        pos[0]);
    rc = EXIT_ERROR;
    goto done;
  }
  double lv, acc;
  TRY(nn_model_evaluate(m, d.x, d.y, (nn_loss)loss, &lv, &acc));
  TRY(nn_model_forward(m, d.x, &y));
  printf("rows      %lld\nloss      %.6g (%s)\n", (long long)d.n, lv, k_losses[loss]);
  int below = 0;
  if (task == 0) {
    double a;
    TRY(nn_metric_compute(NN_METRIC_ACCURACY, y, d.y, &a));
    printf("accuracy  %.6f\n", a);
    if (a < min_acc) {
      say("accuracy %.6f is below --min-accuracy %g", a, min_acc);
      below = 1;
    }
    if (flag(v, "--confusion")) {
      int64_t c = out > 1 ? out : 2;
      TRY(nn_confusion_matrix(y, d.y, c, &cm));
      int64_t *vals = malloc((size_t)(c * c) * sizeof *vals);
      nn_tensor *cc = NULL;
      if (vals && nn_tensor_to_device(cm, (nn_device){NN_CPU, 0}, &cc) == NN_OK &&
          nn_tensor_read(cc, vals, (size_t)(c * c) * sizeof *vals) == NN_OK) {
        printf("confusion (rows: true class, columns: predicted)\n");
        for (int64_t i = 0; i < c; ++i) {
          for (int64_t j = 0; j < c; ++j) printf("%s%6lld", j ? " " : "", (long long)vals[i * c + j]);
          printf("\n");
        }
      }
      nn_tensor_free(cc);
      free(vals);
    }
  } else {
    double mae, rmse, r2;
    TRY(nn_metric_compute(NN_METRIC_MAE, y, d.y, &mae));
    TRY(nn_metric_compute(NN_METRIC_RMSE, y, d.y, &rmse));
    TRY(nn_metric_compute(NN_METRIC_R2, y, d.y, &r2));
    printf("mae       %.6g\nrmse      %.6g\nr2        %.6g\n", mae, rmse, r2);
    if (rmse > max_rmse) {
      say("rmse %.6g is above --max-rmse %g", rmse, max_rmse);
      below = 1;
    }
  }
  if (below) rc = EXIT_BELOW;
done:
  nn_tensor_free(y);
  nn_tensor_free(cm);
  dataset_free(&d);
  nn_model_free(m);
  return rc;
}

/* ---- nn inspect / convert ---------------------------------------------------- */

static int is_model_path(const char *p) { return ends_with(p, ".safetensors") || ends_with(p, ".st"); }

static opt inspect_opts[] = {
    CSV_OPTS,
};

static int run_inspect(verb *v, int npos, char **pos) {
  (void)npos;
  const char *path = pos[0];
  int rc = EXIT_OK;
  char *buf = NULL;
  nn_model *m = NULL;
  nn_tensor *t = NULL;
  size_t need = 0;
  if (is_model_path(path)) {
    nn_device cpu = {NN_CPU, 0};
    nn_status st = nn_model_load(path, cpu, &m);
    if (st != NN_OK) {
      rc = nn_fail_file(path, st);
      goto done;
    }
    int64_t in, out;
    model_io(m, &in, &out);
    nn_model_summary(m, NULL, 0, &need);
    buf = malloc(need);
    if (buf) nn_model_summary(m, buf, need, NULL);
    printf("%s: safetensors model\ninputs    %lld\noutputs   %lld\nlayers    %d\nparams    %lld\ndtype     %s\n", path,
           (long long)in, (long long)out, nn_model_num_layers(m), (long long)nn_model_num_params(m),
           k_dtypes[nn_model_dtype(m)]);
    if (buf) printf("%s%s", buf, need > 1 && buf[need - 2] == '\n' ? "" : "\n");
  } else {
    char delim;
    int skip;
    if ((rc = csv_opts(v, &delim, &skip))) return rc;
    nn_device cpu = {NN_CPU, 0};
    if (ends_with(path, ".npy")) TRY(nn_tensor_load_npy(path, cpu, &t));
    else TRY(nn_tensor_load_csv(path, delim, skip, NN_F64, cpu, &t));
    int nd = nn_tensor_ndim(t);
    int64_t s[8] = {0};
    nn_tensor_shape(t, s);
    printf("%s: %s\nshape     [", path, ends_with(path, ".npy") ? ".npy array" : "CSV table");
    for (int i = 0; i < nd; ++i) printf("%s%lld", i ? ", " : "", (long long)s[i]);
    printf("]\ndtype     %s\n", k_dtypes[nn_tensor_dtype(t)]);
    nn_tensor_to_string(t, NULL, 0, &need);
    buf = malloc(need);
    if (buf && nn_tensor_to_string(t, buf, need, NULL) == NN_OK) printf("%s\n", buf);
  }
done:
  free(buf);
  nn_model_free(m);
  nn_tensor_free(t);
  return rc;
}

/* Model formats `nn convert` reads and writes, by file extension. A new
 * format is one row here: a loader and/or a saver written against nn.h. */
typedef struct model_format {
  const char *ext;
  const char *name;
  nn_status (*load)(const char *path, nn_model **out);
  nn_status (*save)(const nn_model *m, const char *path);
} model_format;

/* C source (nn_model_export_c): the prefix of its names is the file's base
 * name made a C identifier ("digits-v2.c" -> digits_v2_predict). */
static nn_status save_c_source(const nn_model *m, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char prefix[65];
  size_t n = 0;
  if (base[0] >= '0' && base[0] <= '9') prefix[n++] = 'm';
  for (const char *c = base; *c && *c != '.' && n < 64; ++c)
    prefix[n++] = ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')) ? *c : '_';
  if (n == 0) prefix[n++] = 'm';
  prefix[n] = '\0';
  return nn_model_export_c(m, path, prefix);
}

static nn_status load_safetensors(const char *path, nn_model **out) {
  nn_device cpu = {NN_CPU, 0};
  return nn_model_load(path, cpu, out);
}

static nn_status load_onnx(const char *path, nn_model **out) {
  nn_device cpu = {NN_CPU, 0};
  return nn_model_import_onnx(path, cpu, out);
}

static const model_format k_model_formats[] = {
    {".safetensors", "safetensors", load_safetensors, nn_model_save},
    {".st", "safetensors", load_safetensors, nn_model_save},
    {".onnx", "ONNX", load_onnx, nn_model_export_onnx},
    {".c", "C source", NULL, save_c_source}, /* write only */
};

static const model_format *model_format_of(const char *path) {
  for (size_t i = 0; i < sizeof k_model_formats / sizeof k_model_formats[0]; ++i)
    if (ends_with(path, k_model_formats[i].ext)) return &k_model_formats[i];
  return NULL;
}

static opt convert_opts[] = {
    {"--dtype", "DT", "models: f32, f64, f16, bf16 parameters; data: any of f32 f64 f16 bf16 u8 i16 i32 i64", NULL},
    CSV_OPTS,
};

static int run_convert(verb *v, int npos, char **pos) {
  (void)npos;
  const char *in = pos[0], *out = pos[1];
  int rc = EXIT_OK, dti = -1;
  nn_model *m = NULL;
  nn_tensor *t = NULL, *c = NULL;
  if (get(v, "--dtype") && (rc = opt_choice(v, "--dtype", k_dtypes, 0, &dti))) return rc;
  const model_format *fi = model_format_of(in), *fo = model_format_of(out);
  if (fi || fo) {
    if (!fi || !fo) {
      say("cannot convert between a model (%s) and a data file (%s)", fi ? in : out, fi ? out : in);
      return EXIT_USAGE;
    }
    if (!fi->load) {
      say("%s: reading %s (%s) is not supported by this libnn", in, fi->name, fi->ext);
      return EXIT_USAGE;
    }
    if (!fo->save) {
      say("%s: writing %s (%s) is not supported by this libnn", out, fo->name, fo->ext);
      return EXIT_USAGE;
    }
    nn_status st = fi->load(in, &m);
    if (st != NN_OK) {
      rc = nn_fail_file(in, st);
      goto done;
    }
    if (dti >= 0) TRY(nn_model_to_dtype(m, (nn_dtype)dti));
    st = fo->save(m, out);
    if (st != NN_OK) {
      rc = nn_fail_file(out, st);
      goto done;
    }
  } else {
    char delim;
    int skip;
    if ((rc = csv_opts(v, &delim, &skip))) return rc;
    nn_device cpu = {NN_CPU, 0};
    if (ends_with(in, ".npy")) TRY(nn_tensor_load_npy(in, cpu, &t));
    else TRY(nn_tensor_load_csv(in, delim, skip, dti >= 0 ? (nn_dtype)dti : NN_F64, cpu, &t));
    if (dti >= 0 && nn_tensor_dtype(t) != (nn_dtype)dti) {
      TRY(nn_tensor_to_dtype(t, (nn_dtype)dti, &c));
      nn_tensor_free(t);
      t = c;
      c = NULL;
    }
    rc = write_table(t, out);
  }
done:
  nn_model_free(m);
  nn_tensor_free(t);
  nn_tensor_free(c);
  return rc;
}

/* ---- main ------------------------------------------------------------------------ */

#define N_OPTS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char k_exit_codes[] =
    "exit codes:\n"
    "  0    success\n"
    "  1    error: a file cannot be read or written, bad data (the message names\n"
    "       the file, and the line and column for CSV), or a libnn error\n"
    "  2    usage: unknown verb or option, bad or missing option value\n"
    "  3    nn train: the loss or the weights became NaN/inf (model not saved)\n"
    "  4    nn eval: --min-accuracy or --max-rmse not met\n"
    "  130  nn train: interrupted (Ctrl-C): stopped after the epoch, model saved\n";

static verb g_verbs[] = {
    {"train", "[options] DATA", "Trains an MLP on a CSV or .npy table and saves it as safetensors.\nDATA: one row per sample, the feature columns, then the target column(s).",
     "Progress goes to stderr: a live line (epoch, batches, loss, rows/s, ETA) on a\nterminal, one plain line per epoch when piped.\n\n"
     "example:\n  nn train digits.csv --layers 64 --epochs 20 --val-split 0.2 --patience 3 -o digits.safetensors\n",
     train_opts, N_OPTS(train_opts), 1, 1, run_train},
    {"predict", "[options] MODEL DATA", "Runs a model on the rows of a table; writes one row of outputs per row.",
     "example:\n  nn predict digits.safetensors digits.csv --targets 1 --ids -o pred.csv\n", predict_opts,
     N_OPTS(predict_opts), 2, 2, run_predict},
    {"eval", "[options] MODEL DATA", "Scores a model on a table: loss, accuracy or MAE/RMSE/R^2, confusion matrix.",
     "example:\n  nn eval digits.safetensors digits.csv --confusion --min-accuracy 0.9\n", eval_opts, N_OPTS(eval_opts), 2,
     2, run_eval},
    {"inspect", "[options] FILE", "Describes a model or a data file.\nA model (.safetensors): layers, parameters, dtype; a data file (.npy, CSV):\nshape, dtype, values.",
     NULL, inspect_opts, N_OPTS(inspect_opts), 1, 1, run_inspect},
    {"convert", "[options] IN OUT",
     "Converts between the file formats libnn reads and writes.\nBy extension: models .safetensors/.st (optionally to another --dtype); data .npy <-> CSV.\n"
     "Models to and from ONNX (.onnx: nn_model_export_onnx / nn_model_import_onnx).\n"
     "A model to C source (.c, nn_model_export_c: <name>_predict(), no libnn needed).",
     NULL, convert_opts, N_OPTS(convert_opts), 2, 2, run_convert},
};

static void main_help(FILE *f) {
  fprintf(f,
          "usage: nn <command> [options] [arguments]\n\n"
          "The libnn command-line tool (libnn %s): train, use and inspect multilayer\n"
          "perceptrons from CSV and .npy files.\n\ncommands:\n",
          nn_version_string());
  for (size_t i = 0; i < sizeof g_verbs / sizeof g_verbs[0]; ++i) {
    const char *s = g_verbs[i].summary;
    const char *nl = strchr(s, '\n');
    fprintf(f, "  %-9s %.*s\n", g_verbs[i].name, nl ? (int)(nl - s) : (int)strlen(s), s);
  }
  fprintf(f, "\n`nn <command> --help` describes a command. `nn --version` prints the version.\n\n%s", k_exit_codes);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    main_help(stderr);
    return EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    if (argc > 2 && strcmp(argv[1], "help") == 0) {
      for (size_t i = 0; i < sizeof g_verbs / sizeof g_verbs[0]; ++i)
        if (strcmp(argv[2], g_verbs[i].name) == 0) {
          print_help(&g_verbs[i], stdout);
          printf("\n%s", k_exit_codes);
          return EXIT_OK;
        }
    }
    main_help(stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("nn (libnn) %s\n", nn_version_string());
    return EXIT_OK;
  }
  for (size_t i = 0; i < sizeof g_verbs / sizeof g_verbs[0]; ++i) {
    verb *v = &g_verbs[i];
    if (strcmp(argv[1], v->name) != 0) continue;
    g_verb = v->name;
    char *pos[4];
    int npos, help;
    int rc = parse_args(v, argc - 2, argv + 2, &npos, pos, &help);
    if (rc) return rc;
    if (help) {
      print_help(v, stdout);
      printf("\n%s", k_exit_codes);
      return EXIT_OK;
    }
    return v->run(v, npos, pos);
  }
  fprintf(stderr, "nn: unknown command '%s' (see nn --help)\n", argv[1]);
  return EXIT_USAGE;
}
