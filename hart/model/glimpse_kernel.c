/* The fast Gaussian glimpse on the CPU: a batch of glimpses and what their gradients need.
 *
 * Compiled, loaded and called by hart/model/kernel.py; hart/model/glimpse.py says what a
 * glimpse is. Per sample, the filters of each axis are Gaussians of std σ centred at
 * first + i·stride. Filter i reads the pixels [start[i], stop[i]) of the frame that lie within
 * `truncate` σ of its centre, with weights equal to the Gaussian's mass on each pixel (a
 * difference of two error functions). Per channel:
 *
 *   U[i, k] = Σ_s bank_y[i, s] · frame[start_y[i] + s, k]     rows first, over the window
 *   G[i, j] = Σ_s bank_x[j, s] · U[i, start_x[j] + s]         then columns, on U
 *
 * Pixels outside the frame are zeros, so each product runs over the part of a filter's
 * support inside the frame, and U holds only the frame columns that a column filter reads.
 * Each product costs about 2.9 multiply-adds per pixel it reads (a ±5σ support spans 2.9
 * strides when σ ≈ stride / √12), whatever the stride.
 *
 * Gradients. When asked for, the rows also sum the frame with the derivatives of bank_y with
 * respect to each filter's centre and σ (U_c, U_σ), and the columns return, besides G,
 *
 *   U·∂bank_xᵀ (centres and σ of the column filters),  U_c·bank_xᵀ,  U_σ·bank_xᵀ
 *
 * so that for an upstream gradient D of G the gradient of column filter j's centre is
 * Σ_i D[i, j]·(U·∂_c bank_xᵀ)[i, j], of row filter i's centre Σ_j D[i, j]·(U_c·bank_xᵀ)[i, j],
 * and of σ the same summed over all filters. glimpse_backward does those sums; the frame is
 * read once. With z = (e - c) / (σ√2) at each pixel edge e and φ(z) = exp(-z²) / √π, a mass
 * Φ(z₁) - Φ(z₀) (Φ = erf / 2) has ∂/∂c = -(φ(z₁) - φ(z₀)) / (σ√2) and
 * ∂/∂σ = -(z₁φ(z₁) - z₀φ(z₀)) / σ.
 *
 * Every sample has its own frame (address, size and strides in elements), so frames may be
 * views, expanded or channels-last.
 *
 * The file is compiled three times into one library (see kernel.py): REAL=float with
 * NAME(f)=f##_f32, REAL=double with NAME(f)=f##_f64, and for bfloat16 frames REAL=float with
 * PIXEL_BF16 and NAME(f)=f##_bf16, which reads the frame's bfloat16 pixels and does all its
 * arithmetic in float32 (a bfloat16 value is the top half of a float32).
 *
 * Safe for any finite filters: every position is clamped to the frame in floating point before
 * it becomes an integer (a cast of a value beyond int64's range would be undefined), so the
 * memory a sample needs is bounded by the frame's size, whatever the box; every allocation is
 * checked, and a failed one makes glimpse_forward return -1.
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef REAL real;
#if defined(PIXEL_BF16)
typedef uint16_t pixel;
#else
typedef real pixel;
#endif

/* Set in a child process made by fork(): GNU OpenMP's threads do not survive a fork, and a
 * parallel region in the child would wait for them forever, so a forked child runs serially
 * (as PyTorch does with its own OpenMP). Each of the two compiled halves has its own flag. */
#include <pthread.h>
static int forked = 0;
static void NAME(mark_forked)(void) { forked = 1; }
__attribute__((constructor)) static void NAME(watch_forks)(void) {
    pthread_atfork(NULL, NULL, NAME(mark_forked));
}

#define ROOT_2 1.4142135623730950488
#define ROOT_PI 1.7724538509055160273

/* The frame a sample reads (a CHW tensor). */
typedef struct {
    int64_t address, height, width, stride_c, stride_y, stride_x;
} Frame;

/* Where a sample's filters lie, in pixels of its frame. */
typedef struct {
    double first_x, stride_x, sigma_x, first_y, stride_y, sigma_y;
} Filters;

/* The filters of one axis: n of them; filter i reads the pixels [start[i], stop[i]) (inside
 * the frame, at most span of them); the pixels [lo, lo + count) are those any of them reads. */
typedef struct {
    int64_t n, span, lo, count;
    int64_t *start, *stop;
    double first, stride, sigma;
} Axis;

static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* A position clamped to the pixels [0, length] before it becomes an integer. */
static inline int64_t pixel_index(double position, int64_t length) {
    return (int64_t)fmin(fmax(position, 0.0), (double)length);
}

/* Returns 0, or -1 if memory ran out. Positive strides (boxes of positive size) make starts and
 * stops grow with i, so the first filter starts and the last one stops the pixels read. */
static int plan_axis(Axis *axis, double first, double stride, double sigma, int64_t n,
                     int64_t length, double truncate) {
    double reach = truncate * sigma;
    axis->n = n, axis->first = first, axis->stride = stride, axis->sigma = sigma;
    axis->start = malloc((size_t)(2 * n) * sizeof(int64_t));
    if (!axis->start) return -1;
    axis->stop = axis->start + n;
    axis->span = 0;
    for (int64_t i = 0; i < n; i++) {
        double centre = first + (double)i * stride;
        axis->start[i] = pixel_index(floor(centre - reach), length);
        axis->stop[i] = max64(pixel_index(ceil(centre + reach), length), axis->start[i]);
        axis->span = max64(axis->span, axis->stop[i] - axis->start[i]);
    }
    axis->lo = axis->start[0];
    axis->count = max64(axis->stop[n - 1] - axis->lo, 0);
    return 0;
}

/* The pixels [lo, hi) that filter i reads. */
static inline void support(const Axis *axis, int64_t i, int64_t *lo, int64_t *hi) {
    *lo = axis->start[i];
    *hi = axis->stop[i];
}

/* erf and exp in the precision of `real` (float's are several times faster; a mass is then
 * off by about 1e-7, below float's own rounding of the glimpse). With HART_LIBMVEC (glibc on
 * x86-64, linked with -lmvec; see kernel.py) the loops below call glibc's vector versions,
 * 8 or 16 values at a time. */
#if defined(HART_LIBMVEC)
float erff(float) __attribute__((simd("notinbranch")));
float expf(float) __attribute__((simd("notinbranch")));
double erf(double) __attribute__((simd("notinbranch")));
double exp(double) __attribute__((simd("notinbranch")));
#endif
static inline real NAME(erf_)(real z) { return sizeof(real) == sizeof(float) ? erff(z) : erf(z); }
static inline real NAME(exp_)(real z) { return sizeof(real) == sizeof(float) ? expf(z) : exp(z); }

/* The bank (n × span) and, where asked for, its derivatives with respect to each filter's
 * centre and σ. Per filter, z = (edge - centre) / (σ√2) at the span + 1 pixel edges from its
 * start, clamped to ±6, where erf is ±1 to double precision: masses and derivatives beyond are
 * zeros rather than denormal numbers, which are slow to multiply. Returns 0, or -1 if memory
 * ran out. */
static int NAME(banks)(const Axis *axis, real *bank, real *d_centre, real *d_sigma) {
    double scale = axis->sigma * ROOT_2;
    real g_centre = (real)(-1.0 / scale), g_sigma = (real)(-1.0 / axis->sigma);
    int64_t edges = axis->span + 1;
    real *z = malloc((size_t)(3 * edges) * sizeof(real));
    if (!z) return -1;
    real *cdf = z + edges, *phi = cdf + edges;
    for (int64_t i = 0; i < axis->n; i++) {
        double centre = axis->first + (double)i * axis->stride, start = (double)axis->start[i];
#pragma omp simd
        for (int64_t e = 0; e < edges; e++) {
            double at = (start + (double)e - centre) / scale;
            z[e] = (real)(at < -6.0 ? -6.0 : at > 6.0 ? 6.0 : at);
        }
#pragma omp simd
        for (int64_t e = 0; e < edges; e++) cdf[e] = NAME(erf_)(z[e]) / 2;
        real *out = bank + i * axis->span;
        for (int64_t s = 0; s < axis->span; s++) out[s] = cdf[s + 1] - cdf[s];
        if (!d_centre) continue;
#pragma omp simd
        for (int64_t e = 0; e < edges; e++) phi[e] = NAME(exp_)(-z[e] * z[e]) / (real)ROOT_PI;
        real *out_c = d_centre + i * axis->span, *out_s = d_sigma + i * axis->span;
        for (int64_t s = 0; s < axis->span; s++) {
            out_c[s] = g_centre * (phi[s + 1] - phi[s]);
            out_s[s] = g_sigma * (z[s + 1] * phi[s + 1] - z[s] * phi[s]);
        }
    }
    free(z);
    return 0;
}

/* A sample: its axes, banks and, for gradients, their derivatives with respect to the
 * filters' centres and σ (NULL without). */
typedef struct {
    Axis x, y;
    real *bank_x, *bank_y;
    real *centre_x, *sigma_x, *centre_y, *sigma_y;
} Sample;

/* Returns 0, or -1 if memory ran out (what was allocated is then freed by sample_free). */
static int NAME(sample_init)(Sample *s, const Frame *f, const Filters *p, int64_t n_x,
                             int64_t n_y, double truncate, int derivatives) {
    *s = (Sample){0};
    if (plan_axis(&s->x, p->first_x, p->stride_x, p->sigma_x, n_x, f->width, truncate) ||
        plan_axis(&s->y, p->first_y, p->stride_y, p->sigma_y, n_y, f->height, truncate))
        return -1;
    /* Bank, centre and σ derivatives of an axis in one block; at least one entry each, so
     * that malloc never sees 0 (a glimpse that sees nothing has span 0). */
    size_t size_x = (size_t)(n_x * max64(s->x.span, 1)), size_y = (size_t)(n_y * max64(s->y.span, 1));
    size_t blocks = derivatives ? 3 : 1;
    s->bank_x = malloc(blocks * size_x * sizeof(real));
    s->bank_y = malloc(blocks * size_y * sizeof(real));
    if (!s->bank_x || !s->bank_y) return -1;
    if (derivatives) {
        s->centre_x = s->bank_x + size_x, s->sigma_x = s->centre_x + size_x;
        s->centre_y = s->bank_y + size_y, s->sigma_y = s->centre_y + size_y;
    }
    if (NAME(banks)(&s->x, s->bank_x, s->centre_x, s->sigma_x) ||
        NAME(banks)(&s->y, s->bank_y, s->centre_y, s->sigma_y))
        return -1;
    return 0;
}

static void NAME(sample_free)(Sample *s) {
    free(s->x.start), free(s->y.start);
    free(s->bank_x), free(s->bank_y);
}

/* ------------------------------------------------------------------------------------------
 * rows */

/* A vector of LANES values (64 bytes: one AVX-512 register; compilers split it where
 * registers are narrower), and the same type for loads from addresses that are not 64-byte
 * aligned. A strip is four vectors of contiguous columns. */
#define LANES (64 / (int64_t)sizeof(real))
#define STRIP (4 * LANES)
typedef real vector __attribute__((vector_size(64)));
typedef real loose_vector __attribute__((vector_size(64), aligned(sizeof(real))));

/* Pixels as `real` values: LANES contiguous ones as a vector (written through a pointer: a
 * 64-byte vector returned by value would change the ABI where registers are narrower), and one.
 * A bfloat16 pixel is the top half of the float32 it stands for. */
#if defined(PIXEL_BF16)
typedef pixel pixel_vector __attribute__((vector_size(LANES * sizeof(pixel)), aligned(2)));
typedef uint32_t bits_vector __attribute__((vector_size(64)));
static inline void load_pixels(vector *out, const pixel *p) {
    bits_vector bits = __builtin_convertvector(*(const pixel_vector *)p, bits_vector) << 16;
    *out = (vector)bits;
}
static inline real pixel_value(pixel p) {
    uint32_t bits = (uint32_t)p << 16;
    real value;
    memcpy(&value, &bits, sizeof value);
    return value;
}
#else
static inline void load_pixels(vector *out, const pixel *p) { *out = *(const loose_vector *)p; }
static inline real pixel_value(pixel p) { return p; }
#endif

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Filters summed before their strips go into Uᵀ: a tile of GROUP filters × STRIP columns is
 * written with contiguous stores, where one filter's strip would take STRIP stores to as many
 * cache lines. */
#define GROUP 16

/* Filter i's sums over its rows of the strip at `pixels`, in registers: U and, with d_centre,
 * U_c and U_σ, written to tile_u, tile_c, tile_s (STRIP values each). */
static void NAME(strip)(const pixel *pixels, int64_t stride_y, const Axis *y, int64_t i,
                        const real *bank, const real *d_centre, const real *d_sigma,
                        real *tile_u, real *tile_c, real *tile_s) {
    vector s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    vector c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
    vector g0 = {0}, g1 = {0}, g2 = {0}, g3 = {0};
    int64_t lo, hi;
    support(y, i, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        int64_t entry = i * y->span + r - y->start[i];
        const pixel *p = pixels + r * stride_y;
        vector p0, p1, p2, p3;
        load_pixels(&p0, p), load_pixels(&p1, p + LANES);
        load_pixels(&p2, p + 2 * LANES), load_pixels(&p3, p + 3 * LANES);
        vector w = (vector){0} + bank[entry];
        s0 += w * p0, s1 += w * p1, s2 += w * p2, s3 += w * p3;
        if (d_centre) {
            vector wc = (vector){0} + d_centre[entry], ws = (vector){0} + d_sigma[entry];
            c0 += wc * p0, c1 += wc * p1, c2 += wc * p2, c3 += wc * p3;
            g0 += ws * p0, g1 += ws * p1, g2 += ws * p2, g3 += ws * p3;
        }
    }
    loose_vector *out = (loose_vector *)tile_u;
    out[0] = s0, out[1] = s1, out[2] = s2, out[3] = s3;
    if (d_centre) {
        loose_vector *out_c = (loose_vector *)tile_c, *out_s = (loose_vector *)tile_s;
        out_c[0] = c0, out_c[1] = c1, out_c[2] = c2, out_c[3] = c3;
        out_s[0] = g0, out_s[1] = g1, out_s[2] = g2, out_s[3] = g3;
    }
}

/* Brings the window's rows into the (level 2) cache ahead of their use, a few cache lines at a
 * time between sums: the window is short runs of pixels far apart in memory, which the
 * hardware prefetcher learns too late, and asking for many rows at once would overflow the
 * queue of pending reads. (Into level 1 measured 10-15% slower: the lines push out the rows
 * being summed.) `row`, `line`: the next line to ask for; rows up to `end` are wanted. */
typedef struct {
    const char *window;
    int64_t stride, lines, row, line, end;
} Prefetcher;

static inline void prefetch_ahead(Prefetcher *p, int64_t count) {
    for (; count > 0 && p->row < p->end; count--) {
        __builtin_prefetch(p->window + p->row * p->stride + p->line * 64, 0, 1);
        if (++p->line == p->lines) p->line = 0, p->row++;
    }
}

#if defined(__AVX512F__)
/* out[c][r] = in[r][c] for a 16 × 16 block of floats (row strides in floats), in registers:
 * pairs of rows interleaved by 1, 2, 4 and 8 values. */
static inline void transpose_16(const float *in, int64_t stride_in, float *out,
                                int64_t stride_out) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(in + i * stride_in);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        for (int j = 0; j < 2; j++) {
            __m512d a = _mm512_castps_pd(t[i + j]), b = _mm512_castps_pd(t[i + j + 2]);
            r[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    }
    for (int i = 0; i < 16; i += 8) {
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
        }
    }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(out + i * stride_out, r[i]);
}
#endif

/* Uᵀ[at + t][first + l] = tile[l][t] for t < STRIP and l < count: the transposition of a
 * tile. With AVX-512, a full tile of floats goes in 16 × 16 blocks transposed in registers;
 * otherwise one value at a time (as slow as the sums themselves on large windows). */
static inline void NAME(untile)(real *u_t, int64_t pitch, int64_t at, int64_t first,
                                int64_t count, real tile[][STRIP]) {
#if defined(__AVX512F__)
    if (sizeof(real) == sizeof(float) && count == 16) {
        for (int64_t t = 0; t < STRIP; t += 16)
            transpose_16((const float *)&tile[0][t], STRIP, (float *)(u_t + (at + t) * pitch + first),
                         pitch);
        return;
    }
#endif
    for (int64_t t = 0; t < STRIP; t++) {
        real *out = u_t + (at + t) * pitch + first;
        for (int64_t l = 0; l < count; l++) out[l] = tile[l][t];
    }
}

/* Rows of contiguous frames, GROUP filters at a time, strip by strip of the window: the rows
 * the filters read stay in the cache for the next filters, which overlap them, and the rows
 * the next group adds are fetched while this one is summed. The last strip ends at the
 * window's edge and may overlap the one before (columns written twice, with the same sums). */
static void NAME(rows_in_strips)(const pixel *window, const Frame *f, const Axis *y,
                                 int64_t cols, const real *bank, const real *d_centre,
                                 const real *d_sigma, int64_t pitch, real *u_t, real *u_c_t,
                                 real *u_s_t) {
    int64_t n = y->n, lo, strips = (cols + STRIP - 1) / STRIP;
    real tiles[3][GROUP][STRIP];
    Prefetcher ahead = {(const char *)window, f->stride_y * (int64_t)sizeof(pixel),
                        (cols * (int64_t)sizeof(pixel) + 63) / 64, y->lo, 0, 0};
    support(y, min64(GROUP, n) - 1, &lo, &ahead.end);
    prefetch_ahead(&ahead, (ahead.end - y->lo) * ahead.lines);
    for (int64_t first = 0; first < n; first += GROUP) {
        int64_t count = min64(GROUP, n - first);
        support(y, min64(first + 2 * GROUP, n) - 1, &lo, &ahead.end);
        int64_t per_strip = ((ahead.end - ahead.row) * ahead.lines) / (count * strips) + 1;
        for (int64_t q = 0; q < cols; q += STRIP) {
            int64_t at = min64(q, cols - STRIP);
            for (int64_t l = 0; l < count; l++) {
                NAME(strip)(window + at, f->stride_y, y, first + l, bank, d_centre, d_sigma,
                            tiles[0][l], tiles[1][l], tiles[2][l]);
                prefetch_ahead(&ahead, per_strip);
            }
            NAME(untile)(u_t, pitch, at, first, count, tiles[0]);
            if (!d_centre) continue;
            NAME(untile)(u_c_t, pitch, at, first, count, tiles[1]);
            NAME(untile)(u_s_t, pitch, at, first, count, tiles[2]);
        }
    }
}

/* Rows of windows narrower than a strip, or of frames whose columns are not contiguous
 * (channels-last): the same sums, kept in memory. */
static void NAME(rows_one_by_one)(const pixel *window, const Frame *f, const Axis *y,
                                  int64_t cols, const real *bank, const real *d_centre,
                                  const real *d_sigma, int64_t pitch, real *u_t, real *u_c_t,
                                  real *u_s_t) {
    int64_t n = y->n, step = f->stride_x;
    for (int64_t q = 0; q < cols; q += STRIP) {
        int64_t width = min64(STRIP, cols - q);
        for (int64_t i = 0; i < n; i++) {
            int64_t lo, hi;
            support(y, i, &lo, &hi);
            real sum[STRIP] = {0}, sum_c[STRIP] = {0}, sum_s[STRIP] = {0};
            for (int64_t r = lo; r < hi; r++) {
                int64_t entry = i * y->span + r - y->start[i];
                real w = bank[entry];
                real wc = d_centre ? d_centre[entry] : 0, ws = d_centre ? d_sigma[entry] : 0;
                const pixel *pixels = window + r * f->stride_y + q * step;
                if (step == 1) {
#pragma omp simd
                    for (int64_t t = 0; t < width; t++) {
                        real value = pixel_value(pixels[t]);
                        sum[t] += w * value, sum_c[t] += wc * value, sum_s[t] += ws * value;
                    }
                } else {
                    for (int64_t t = 0; t < width; t++) {
                        real value = pixel_value(pixels[t * step]);
                        sum[t] += w * value, sum_c[t] += wc * value, sum_s[t] += ws * value;
                    }
                }
            }
            for (int64_t t = 0; t < width; t++) {
                u_t[(q + t) * pitch + i] = sum[t];
                if (d_centre)
                    u_c_t[(q + t) * pitch + i] = sum_c[t], u_s_t[(q + t) * pitch + i] = sum_s[t];
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * columns */

/* Columns, on Uᵀ (cols × pitch, rows padded with zeros to a multiple of 2·LANES) of one
 * channel: the glimpse (n_y × n_x) and, with `products`, the four products of the header,
 * each transposed (n_x × n_y): U·∂_c bank_xᵀ, U·∂_σ bank_xᵀ, U_c·bank_xᵀ, U_σ·bank_xᵀ. For each
 * column filter, two vectors of rows at a time are summed over its support in registers,
 * into `sums` (5 · n_x · pitch values). */
static void NAME(columns)(const real *u_t, const real *u_c_t, const real *u_s_t,
                          const Axis *x, int64_t n_y, int64_t pitch, const real *bank,
                          const real *d_centre, const real *d_sigma, real *sums, real *glimpse,
                          real *products) {
    int64_t n_x = x->n, size = n_x * pitch;
    for (int64_t j = 0; j < n_x; j++) {
        int64_t lo, hi;
        support(x, j, &lo, &hi);
        for (int64_t i = 0; i < pitch; i += 2 * LANES) {
            vector a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0}, c0 = {0}, c1 = {0};
            vector d0 = {0}, d1 = {0}, e0 = {0}, e1 = {0};
            for (int64_t k = lo; k < hi; k++) {
                int64_t entry = j * x->span + k - x->start[j], at = (k - x->lo) * pitch + i;
                const loose_vector *u = (const loose_vector *)(u_t + at);
                vector w = (vector){0} + bank[entry];
                a0 += w * u[0], a1 += w * u[1];
                if (products) {
                    const loose_vector *u_c = (const loose_vector *)(u_c_t + at);
                    const loose_vector *u_s = (const loose_vector *)(u_s_t + at);
                    vector wc = (vector){0} + d_centre[entry], ws = (vector){0} + d_sigma[entry];
                    b0 += wc * u[0], b1 += wc * u[1], c0 += ws * u[0], c1 += ws * u[1];
                    d0 += w * u_c[0], d1 += w * u_c[1], e0 += w * u_s[0], e1 += w * u_s[1];
                }
            }
            loose_vector *out = (loose_vector *)(sums + j * pitch + i);
            out[0] = a0, out[1] = a1;
            if (products) {
                out = (loose_vector *)(sums + size + j * pitch + i);
                out[0] = b0, out[1] = b1;
                out = (loose_vector *)(sums + 2 * size + j * pitch + i);
                out[0] = c0, out[1] = c1;
                out = (loose_vector *)(sums + 3 * size + j * pitch + i);
                out[0] = d0, out[1] = d1;
                out = (loose_vector *)(sums + 4 * size + j * pitch + i);
                out[0] = e0, out[1] = e1;
            }
        }
    }
    for (int64_t i = 0; i < n_y; i++)
        for (int64_t j = 0; j < n_x; j++) glimpse[i * n_x + j] = sums[j * pitch + i];
    for (int64_t m = 0; products && m < 4; m++)
        for (int64_t j = 0; j < n_x; j++)
            memcpy(products + (m * n_x + j) * n_y, sums + (m + 1) * size + j * pitch,
                   (size_t)n_y * sizeof(real));
}

/* ------------------------------------------------------------------------------------------
 * the batch */

/* Scratch memory of the calling thread, kept between calls and grown when too small: freeing
 * and asking again for blocks this size would map fresh pages on every call. */
static real *NAME(scratch)(size_t count) {
    static _Thread_local real *memory = NULL;
    static _Thread_local size_t capacity = 0;
    if (count > capacity) {
        free(memory);
        memory = malloc(count * sizeof(real));
        capacity = memory ? count : 0;
    }
    return memory;
}

/* One sample and channel: its glimpse and, with `out`, its four products. Returns 0, or -1
 * if memory ran out. */
static int NAME(forward_task)(const Frame *f, const Sample *s, int64_t channel, int64_t n_x,
                              int64_t n_y, real *glimpse, real *out) {
    int64_t cols = s->y.count > 0 ? s->x.count : 0;
    int64_t size = n_x * n_y;
    if (cols == 0) { /* the glimpse sees nothing of the frame */
        memset(glimpse, 0, (size_t)size * sizeof(real));
        if (out) memset(out, 0, (size_t)(4 * size) * sizeof(real));
        return 0;
    }
    int64_t pitch = (n_y + 2 * LANES - 1) / (2 * LANES) * (2 * LANES);
    real *u_t = NAME(scratch)((size_t)((3 * cols + 5 * n_x) * pitch));
    if (!u_t) return -1;
    real *u_c_t = u_t + cols * pitch, *u_s_t = u_c_t + cols * pitch;
    real *sums = u_s_t + cols * pitch;
    /* The padding rows: zeros, not garbage (U_c and U_σ only where they are read). */
    for (int64_t k = 0; k < (out ? 3 : 1) * cols; k++)
        memset(u_t + k * pitch + n_y, 0, (size_t)(pitch - n_y) * sizeof(real));
    const pixel *window =
        (const pixel *)(intptr_t)f->address + channel * f->stride_c + s->x.lo * f->stride_x;
    if (f->stride_x == 1 && cols >= STRIP)
        NAME(rows_in_strips)(window, f, &s->y, cols, s->bank_y, s->centre_y, s->sigma_y, pitch,
                             u_t, u_c_t, u_s_t);
    else
        NAME(rows_one_by_one)(window, f, &s->y, cols, s->bank_y, s->centre_y, s->sigma_y, pitch,
                              u_t, u_c_t, u_s_t);
    NAME(columns)(u_t, u_c_t, u_s_t, &s->x, n_y, pitch, s->bank_x, s->centre_x, s->sigma_x, sums,
                  glimpse, out);
    return 0;
}

/* Glimpses (B, C, n_y, n_x) and, where `products` is given, (B, C, 4, n_x, n_y): the four
 * products of the header per sample and channel. Samples and channels are shared among
 * `threads` OpenMP threads. Returns 0, or -1 if memory ran out. */
int NAME(glimpse_forward)(int64_t batch, int64_t channels, const Frame *frames,
                          const Filters *filters, int64_t n_x, int64_t n_y, double truncate,
                          real *glimpses, real *products, int threads) {
    int64_t size = n_x * n_y;
    int failed = 0, parallel = threads > 1 && !forked;
    (void)parallel; /* read only by OpenMP's pragmas */
    if (batch == 0) return 0;
    Sample *samples = calloc((size_t)batch, sizeof(Sample));
    if (!samples) return -1;
#pragma omp parallel for num_threads(threads) reduction(| : failed) if (parallel)
    for (int64_t b = 0; b < batch; b++)
        failed |= NAME(sample_init)(&samples[b], &frames[b], &filters[b], n_x, n_y, truncate,
                                    products != NULL);
    if (!failed) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) reduction(| : failed) if (parallel)
        for (int64_t task = 0; task < batch * channels; task++) {
            int64_t b = task / channels;
            failed |= NAME(forward_task)(&frames[b], &samples[b], task % channels, n_x, n_y,
                                         glimpses + task * size,
                                         products ? products + task * 4 * size : NULL);
        }
    }
    for (int64_t b = 0; b < batch; b++) NAME(sample_free)(&samples[b]);
    free(samples);
    return failed ? -1 : 0;
}

/* The gradients (B, 6) of the Filters from those of the glimpses (B, C, n_y, n_x) and the
 * products (B, C, 4, n_x, n_y) that glimpse_forward returned. */
void NAME(glimpse_backward)(int64_t batch, int64_t channels, int64_t n_x, int64_t n_y,
                            const real *products, const real *grad_glimpses,
                            double *grad_filters, int threads) {
    int64_t size = n_x * n_y;
    (void)threads; /* read only by OpenMP's pragmas */
#pragma omp parallel for num_threads(threads) if (threads > 1 && !forked)
    for (int64_t b = 0; b < batch; b++) {
        double *grad = grad_filters + 6 * b;
        memset(grad, 0, 6 * sizeof(double));
        for (int64_t c = 0; c < channels; c++) {
            const real *product = products + (b * channels + c) * 4 * size;
            const real *grad_glimpse = grad_glimpses + (b * channels + c) * size;
            for (int64_t j = 0; j < n_x; j++) {
                real centre_x = 0, sigma_x = 0;
                for (int64_t i = 0; i < n_y; i++) {
                    real d = grad_glimpse[i * n_x + j];
                    real centre_y = d * product[2 * size + j * n_y + i];
                    centre_x += d * product[j * n_y + i];
                    sigma_x += d * product[size + j * n_y + i];
                    grad[3] += (double)centre_y, grad[4] += (double)(i * centre_y);
                    grad[5] += (double)(d * product[3 * size + j * n_y + i]);
                }
                grad[0] += (double)centre_x, grad[1] += (double)(j * centre_x);
                grad[2] += (double)sigma_x;
            }
        }
    }
}
