/* Exhaustive accuracy of the float32 stream rule (docs/STREAM.md section 10)
 * against double-precision libm: every 24-bit angle, every 32-bit radius word,
 * the bound they give the standard normal, and the inverse normal CDF of the
 * truncated normal at every positive float32 p <= 1/2 (and at every scaled p
 * for a ladder of far-tail scalings) against AS 241 PPND16 in double (about
 * 1e-16).  "ulp" is the spacing of float32 at the exact value.  Build and run
 * (about five minutes on one core):
 *   gcc -O2 -ffp-contract=off -fno-math-errno -mfma -Icsrc tools/accuracy_f32.c -lm -o /tmp/acc && /tmp/acc
 * (-mfma only makes fmaf an instruction; without it glibc's fmaf gives the
 * same bits, slower). */
#include <math.h>
#include <stdio.h>
#include "fi_dist.h"

/* error of got against want in units of ulp(want) as float32 */
static double ulps(double got, double want)
{
    double a = fabs(want);
    if (a < 0x1p-126)
        a = 0x1p-126;
    int e;
    frexp(a, &e);                       /* a in [2^(e-1), 2^e) */
    return fabs(got - want) / ldexp(1.0, e - 24);
}

int main(void)
{
    double c_ulp = 0, s_ulp = 0, c_rel = 0;
    for (uint32_t n = 0; n < (1u << 24); n++) {
        float c, s;
        fi_bm_angle_f32(n << 8, &c, &s);
        long double th = 2 * 3.14159265358979323846264338327950288L * (long double)n / 16777216.0L;
        double C = (double)cosl(th), S = (double)sinl(th);
        /* relative error, in ulp(value), away from the exact zeros (n = 2^22 k) */
        if (n % (1u << 22) != 0 || n == 0) {
            double ec = ulps(c, C), es = ulps(s, S);
            if (ec > c_ulp) c_ulp = ec;
            if (es > s_ulp) s_ulp = es;
            double r = fmax(fabs(c - C) / fabs(C), fabs(s - S) / fabs(S)) / 0x1p-24;
            if (r > c_rel) c_rel = r;
        } else if (c != 0.0f && s != 0.0f) {
            printf("angle: n = %u should give an exact zero\n", n);
            return 1;
        }
    }
    printf("angle, all 2^24 angles: cos within %.3f ulp, sin within %.3f ulp (relative error <= %.3f * 2^-24)\n",
           c_ulp, s_ulp, c_rel);
    double r_ulp = 0, r_rel = 0, zmax = 0;
    uint32_t x = 0;
    do {
        long double want = sqrtl(-2 * logl(((long double)x + 1) / 4294967296.0L));
        float r = fi_bm_radius_f32(x);
        if (want > 0) {
            double e = ulps(r, (double)want);
            if (e > r_ulp) r_ulp = e;
            double rel = fabs((double)(r - want)) / (double)want / 0x1p-24;
            if (rel > r_rel) r_rel = rel;
        } else if (r != 0.0f) {
            printf("radius: x1 = %u should give 0\n", x);
            return 1;
        }
        if (r > zmax) zmax = r;
        x++;
    } while (x != 0);
    printf("radius, all 2^32 words: within %.3f ulp (relative error <= %.3f * 2^-24), largest r = %.6f\n",
           r_ulp, r_rel, zmax);
    /* z = fl(r c): |r c - Z| <= |Z| (er + ec + er ec) with Z = R C exact, and
     * rounding never crosses below a power of two, so |r c| / ulp(z) < 2^24 (1 + 2^-24)
     * and the rounding adds at most ulp(z) / 2 */
    double e = (r_rel + c_rel + r_rel * c_rel * 0x1p-24) * 0x1p-24;
    double bound = e * (1 + e) * (1 + 0x1p-24) * 0x1p24 + 0.5;
    printf("normal z = r cos, r sin: within %.3f ulp(z) of the exact transform (bound from the two above)\n", bound);

    /* inverse CDF: every positive normal float32 p <= 1/2, unscaled */
    double n_ulp = 0, n_abs = 0, c_ulp2 = 0;
    float worst_p = 0;
    for (uint32_t b = 0x00800000u; b <= 0x3F000000u; b++) {
        float p = fi_bits_f32(b);
        double z = fi_ndtri_low_f32(p, FI_NDTRIF_PC, 0.0f);
        double Z = fi_ndtri_low_f64(p, 0.075, 0.0);
        double e = ulps(z, Z);
        if (e > n_ulp) { n_ulp = e; worst_p = p; }
        if (p >= FI_NDTRIF_PC && e > c_ulp2) c_ulp2 = e;
        if (fabs(z - Z) > n_abs) n_abs = fabs(z - Z);
    }
    printf("inverse CDF, every float32 p in [2^-126, 1/2]: within %.3f ulp (worst at p = %a), |error| <= %.3g; "
           "central region p >= 2^-8: within %.3f ulp\n", n_ulp, worst_p, n_abs, c_ulp2);
    /* scaled tails: p = p_s e^-lnS, lnS = fl32(k ln 2), every p_s in [2^-27, 1) */
    double t_ulp = 0;
    for (int k = 64; k <= 1022; k += 958 / 14) {
        float lnS = (float)(k * 0.6931471805599453);
        for (uint32_t b = 0x32000000u; b < 0x3F800000u; b++) {
            float p = fi_bits_f32(b);
            double z = fi_ndtri_low_f32(p, INFINITY, lnS);
            double Z = fi_ndtri_low_f64(p, INFINITY, (double)lnS);
            double e = ulps(z, Z);
            if (e > t_ulp) t_ulp = e;
        }
    }
    printf("inverse CDF, scaled tails (15 scalings 2^-k, k = 64, 132, ..., 1016, p_s in [2^-27, 1)): within %.3f ulp\n",
           t_ulp);
    return 0;
}
