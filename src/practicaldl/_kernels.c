/* Fused elementwise kernels for the training loop's step (practicaldl.training._FusedStep).

Each kernel does what a few NumPy calls do, with the same floating-point operations in the same
order (so the same bits), in one pass over memory instead of several:

  bias_relu(Z, b):        Z := max(Z + b, 0)            np.add(Z, b, out=Z); np.maximum(Z, 0, out=Z)
  relu_mask_sum(dA, G, db): dA := dA * 1[G > 0];        np.multiply(dA, G > 0, out=dA)
                          db := sum of each row of dA   np.add.reduce(dA, axis=1, keepdims=True, out=db)
  take_rows(out, X, idx): out[k] := X[idx[k]]           np.take(X, idx, axis=0, out=out, mode="clip")

Z, dA, G: (n, m) C-contiguous float32 or float64; b, db: n values of the same dtype; X: (N, w)
C-contiguous; idx: int64 indices (clipped to [0, N-1], as mode="clip").

Why these give NumPy's bits:
- max(v, 0) is NumPy's maximum: v when v > 0 or v is NaN, else +0 (NumPy returns +0 for
  max(-0, +0) too);
- 1[G > 0] is the bool NumPy casts to 1.0 or 0.0 before multiplying: dA * 1 or dA * 0 (so -0 for
  a negative dA and NaN for an infinite or NaN one, as NumPy gives);
- the row sums are NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src,
  pairwise_sum, used by np.add.reduce along a contiguous axis), in the row's dtype: fewer than 8
  values are added in order; up to 128 are added into 8 running sums, element j into sum j mod 8,
  combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), then the rest (n mod 8) in order;
  longer rows split at n2 = n / 2 rounded down to a multiple of 8, each part summed so, and the two
  results added, and the sum then added to the reduction's identity, 0 (so a sum of -0 is +0).
  The 8 running sums are one vector of 8 lanes here (lanewise IEEE additions, the same numbers),
  and 4 rows are summed at a time so that their additions overlap in the CPU.
A NaN comes out where NumPy gives a NaN; its sign and payload may differ (which NaN NaN + NaN
returns is left open by IEEE 754, and NumPy's own loops differ in it); any NaN stops training.
The file is compiled without -ffast-math and with -ffp-contract=off (setup.py): no reordering, no
fused multiply-add. tests/test_kernels.py compares every kernel with NumPy bit for bit, special
values included.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ROWS 4 /* rows summed at a time */
#define AHEAD 4 /* rows prefetched ahead of the copy */

/* On x86-64 Linux with GCC and glibc, each kernel is compiled twice, for AVX2 and for the baseline
   (SSE2), and glibc's loader picks the one the CPU runs (GCC's function multiversioning). The loops are
   written so that the compiler vectorizes them: comparisons become bit masks, and(mask, bits)
   selects a value or +0, and no branch depends on the data. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

#define DEFINE_KERNELS(T, U, ONE_BITS, SUFFIX)                                                        \
    typedef T vec8_##SUFFIX __attribute__((vector_size(8 * sizeof(T)))); /* the 8 running sums */     \
                                                                                                       \
    /* pairwise_sum of ROWS rows at once (row r starts at a + r * stride), each result into out[r] */ \
    CLONES static void pairwise_rows_##SUFFIX(const T *a, Py_ssize_t stride, Py_ssize_t n, T *out)    \
    {                                                                                                  \
        if (n < 8) {                                                                                   \
            for (int r = 0; r < ROWS; r++) {                                                           \
                T res = 0;                                                                             \
                for (Py_ssize_t i = 0; i < n; i++)                                                     \
                    res += a[r * stride + i];                                                          \
                out[r] = res;                                                                          \
            }                                                                                          \
        }                                                                                              \
        else if (n <= 128) {                                                                           \
            vec8_##SUFFIX s[ROWS];                                                                     \
            Py_ssize_t i;                                                                              \
            for (int r = 0; r < ROWS; r++)                                                             \
                memcpy(&s[r], a + r * stride, sizeof s[r]);                                            \
            for (i = 8; i < n - (n % 8); i += 8)                                                       \
                for (int r = 0; r < ROWS; r++) {                                                       \
                    vec8_##SUFFIX next;                                                                \
                    memcpy(&next, a + r * stride + i, sizeof next);                                    \
                    s[r] += next;                                                                      \
                }                                                                                      \
            for (int r = 0; r < ROWS; r++) {                                                           \
                T res = ((s[r][0] + s[r][1]) + (s[r][2] + s[r][3])) +                                  \
                        ((s[r][4] + s[r][5]) + (s[r][6] + s[r][7]));                                   \
                for (Py_ssize_t k = i; k < n; k++)                                                     \
                    res += a[r * stride + k];                                                          \
                out[r] = res;                                                                          \
            }                                                                                          \
        }                                                                                              \
        else {                                                                                         \
            Py_ssize_t n2 = n / 2;                                                                     \
            n2 -= n2 % 8;                                                                              \
            T left[ROWS], right[ROWS];                                                                 \
            pairwise_rows_##SUFFIX(a, stride, n2, left);                                               \
            pairwise_rows_##SUFFIX(a + n2, stride, n - n2, right);                                     \
            for (int r = 0; r < ROWS; r++)                                                             \
                out[r] = left[r] + right[r];                                                           \
        }                                                                                              \
    }                                                                                                  \
                                                                                                       \
    /* Z := max(Z + b, 0): v where v > 0 or v is NaN, else +0 (all bits off) */                        \
    CLONES static void bias_relu_##SUFFIX(T *restrict Z, const T *restrict b, Py_ssize_t n,           \
                                          Py_ssize_t m)                                                \
    {                                                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) {                                                           \
            T *restrict z = Z + i * m;                                                                 \
            const T bi = b[i];                                                                         \
            for (Py_ssize_t j = 0; j < m; j++) {                                                       \
                T v = z[j] + bi;                                                                       \
                U bits;                                                                                \
                memcpy(&bits, &v, sizeof v);                                                           \
                bits &= -(U)((v > 0) | (v != v));                                                      \
                memcpy(z + j, &bits, sizeof v);                                                        \
            }                                                                                          \
        }                                                                                              \
    }                                                                                                  \
                                                                                                       \
    /* dA := dA * 1[G > 0] (the factor: the bits of 1.0 or of +0), and db := the rows' sums */         \
    CLONES static void relu_mask_sum_##SUFFIX(T *restrict dA, const T *restrict G, T *restrict db,     \
                                              Py_ssize_t n, Py_ssize_t m)                              \
    {                                                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) {                                                           \
            T *restrict d = dA + i * m;                                                                \
            const T *restrict g = G + i * m;                                                           \
            for (Py_ssize_t j = 0; j < m; j++) {                                                       \
                U bits = ONE_BITS & -(U)(g[j] > 0);                                                    \
                T factor;                                                                              \
                memcpy(&factor, &bits, sizeof factor);                                                 \
                d[j] = d[j] * factor;                                                                  \
            }                                                                                          \
            T res[ROWS];                                                                               \
            if (i % ROWS == ROWS - 1) { /* ROWS rows masked: sum them together */                      \
                pairwise_rows_##SUFFIX(d - (ROWS - 1) * m, m, m, res);                                 \
                for (int r = 0; r < ROWS; r++) /* NumPy adds the sum to the identity, 0 */             \
                    db[i - (ROWS - 1) + r] = (T)0 + res[r];                                            \
            }                                                                                          \
            else if (i >= n - n % ROWS) { /* the last n mod ROWS rows: one at a time (stride 0) */     \
                pairwise_rows_##SUFFIX(d, 0, m, res);                                                  \
                db[i] = (T)0 + res[0];                                                                 \
            }                                                                                          \
        }                                                                                              \
    }

/* an index of take_rows, clipped to [0, N - 1] as np.take's mode="clip" */
static inline long long
clip(long long i, Py_ssize_t N)
{
    return i < 0 ? 0 : i >= N ? N - 1 : i;
}

static inline void
prefetch_row(const char *p, size_t bytes)
{
#if defined(__GNUC__)
    for (size_t o = 0; o < bytes; o += 64) /* one request per 64-byte cache line */
        __builtin_prefetch(p + o);
#else
    (void)p, (void)bytes;
#endif
}

DEFINE_KERNELS(float, uint32_t, UINT32_C(0x3f800000), f32)
DEFINE_KERNELS(double, uint64_t, UINT64_C(0x3ff0000000000000), f64)

/* -- the Python interface: buffers (NumPy arrays) checked for layout, dtype and shape -------- */

static void
release(Py_buffer *views, int count)
{
    for (int k = 0; k < count; k++)
        PyBuffer_Release(&views[k]);
}

/* Acquire the C-contiguous buffers of args[0 .. count-1] (writable where bit k of `writable` is
   set), or raise naming the argument, holding none. */
static int
get_buffers(const char *signature, PyObject *const *args, Py_ssize_t nargs, int count, const char *const *names,
            unsigned writable, Py_buffer *views)
{
    if (nargs != count) {
        PyErr_Format(PyExc_TypeError, "%s takes %d arguments, got %zd", signature, count, nargs);
        return -1;
    }
    for (int k = 0; k < count; k++) {
        int w = (writable >> k) & 1;
        if (PyObject_GetBuffer(args[k], &views[k], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (w ? PyBUF_WRITABLE : 0)) < 0) {
            PyErr_Format(PyExc_ValueError, "%s: %s must be a C-contiguous%s array", signature, names[k],
                         w ? " writable" : "");
            release(views, k);
            return -1;
        }
    }
    return 0;
}

/* whether the memory of any two of the buffers overlaps (the kernels use restrict pointers) */
static int
any_overlap(const Py_buffer *views, int count)
{
    for (int j = 0; j < count; j++)
        for (int k = j + 1; k < count; k++) {
            const char *x = views[j].buf, *y = views[k].buf;
            if (x < y + views[k].len && y < x + views[j].len)
                return 1;
        }
    return 0;
}

/* release the buffers and raise ValueError(message) */
static PyObject *
fail(Py_buffer *views, int count, const char *message)
{
    release(views, count);
    PyErr_SetString(PyExc_ValueError, message);
    return NULL;
}

/* the buffer's format letter (native byte order), or 0 for a format of more than one letter */
static char
letter(const Py_buffer *view)
{
    const char *f = view->format;
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    return f[0] != '\0' && f[1] == '\0' ? f[0] : 0;
}

/* 'f' or 'd' for a 2-D float32 or float64 matrix, with as many values in `column` (b or db), of its
   dtype, as it has rows (and, when `same` is given, a buffer of its shape and dtype); else 0 */
static char
matrix_kind(const Py_buffer *matrix, const Py_buffer *column, const Py_buffer *same)
{
    char c = letter(matrix);
    if (matrix->ndim != 2 || !((c == 'f' && matrix->itemsize == 4) || (c == 'd' && matrix->itemsize == 8)))
        return 0;
    if (letter(column) != c || column->len != matrix->shape[0] * matrix->itemsize)
        return 0;
    if (same != NULL && (letter(same) != c || same->ndim != 2 || same->shape[0] != matrix->shape[0] ||
                         same->shape[1] != matrix->shape[1]))
        return 0;
    return c;
}

static PyObject *
py_bias_relu(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"Z", "b"};
    Py_buffer v[2];
    if (get_buffers("bias_relu(Z, b)", args, nargs, 2, names, 1u, v) < 0)
        return NULL;
    char kind = matrix_kind(&v[0], &v[1], NULL);
    if (!kind)
        return fail(v, 2, "bias_relu(Z, b): Z must be a float32 or float64 matrix (n, m) and b n values of its dtype");
    if (any_overlap(v, 2))
        return fail(v, 2, "bias_relu(Z, b): Z and b must not share memory");
    Py_ssize_t n = v[0].shape[0], m = v[0].shape[1];
    Py_BEGIN_ALLOW_THREADS
    if (kind == 'f')
        bias_relu_f32(v[0].buf, v[1].buf, n, m);
    else
        bias_relu_f64(v[0].buf, v[1].buf, n, m);
    Py_END_ALLOW_THREADS
    release(v, 2);
    Py_RETURN_NONE;
}

static PyObject *
py_relu_mask_sum(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"dA", "G", "db"};
    Py_buffer v[3];
    if (get_buffers("relu_mask_sum(dA, G, db)", args, nargs, 3, names, 1u | 4u, v) < 0)
        return NULL;
    char kind = matrix_kind(&v[0], &v[2], &v[1]);
    if (!kind)
        return fail(v, 3, "relu_mask_sum(dA, G, db): dA must be a float32 or float64 matrix (n, m), G of its shape "
                          "and dtype, and db n values of its dtype");
    if (any_overlap(v, 3))
        return fail(v, 3, "relu_mask_sum(dA, G, db): dA, G and db must not share memory");
    Py_ssize_t n = v[0].shape[0], m = v[0].shape[1];
    Py_BEGIN_ALLOW_THREADS
    if (kind == 'f')
        relu_mask_sum_f32(v[0].buf, v[1].buf, v[2].buf, n, m);
    else
        relu_mask_sum_f64(v[0].buf, v[1].buf, v[2].buf, n, m);
    Py_END_ALLOW_THREADS
    release(v, 3);
    Py_RETURN_NONE;
}

static PyObject *
py_take_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"out", "X", "idx"};
    Py_buffer v[3];
    if (get_buffers("take_rows(out, X, idx)", args, nargs, 3, names, 1u, v) < 0)
        return NULL;
    const Py_buffer *out = &v[0], *X = &v[1], *idx = &v[2];
    char i = letter(idx);
    if (out->ndim != 2 || X->ndim != 2 || letter(out) != letter(X) || out->itemsize != X->itemsize ||
        out->shape[1] != X->shape[1] || X->shape[0] < 1 || idx->ndim != 1 || idx->itemsize != 8 ||
        !(i == 'l' || i == 'q') || idx->shape[0] != out->shape[0])
        return fail(v, 3, "take_rows(out, X, idx): out must be (k, w), X (N, w) with N >= 1 and out's dtype, idx k "
                          "int64 indices");
    if (any_overlap(v, 3))
        return fail(v, 3, "take_rows(out, X, idx): out, X and idx must not share memory");
    Py_ssize_t k = out->shape[0], N = X->shape[0];
    size_t row = (size_t)X->shape[1] * X->itemsize;
    const long long *rows = idx->buf;
    const char *src = X->buf;
    char *dst = out->buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < k; r++) {
        if (r + AHEAD < k) /* ask for row r + AHEAD now: its lines arrive while rows r.. are copied */
            prefetch_row(src + clip(rows[r + AHEAD], N) * row, row);
        memcpy(dst + r * row, src + clip(rows[r], N) * row, row);
    }
    Py_END_ALLOW_THREADS
    release(v, 3);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"bias_relu", (PyCFunction)(void (*)(void))py_bias_relu, METH_FASTCALL, "Z := max(Z + b, 0), in place."},
    {"relu_mask_sum", (PyCFunction)(void (*)(void))py_relu_mask_sum, METH_FASTCALL,
     "dA := dA * 1[G > 0] in place; db := the pairwise sum of each row of dA."},
    {"take_rows", (PyCFunction)(void (*)(void))py_take_rows, METH_FASTCALL, "out[k] := X[clip(idx[k])]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "Fused elementwise kernels (see _kernels.c).",
                                    -1, methods};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
