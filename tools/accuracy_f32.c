/* Exhaustive accuracy of the float32 Box-Muller pieces (docs/STREAM.md
 * section 10): every 24-bit angle and every 32-bit radius word against
 * double-precision libm.  Build and run (about a minute):
 *   gcc -O2 -ffp-contract=off -fno-math-errno -Icsrc tools/accuracy_f32.c -lm -o /tmp/acc && /tmp/acc */
#include <math.h>
#include <stdio.h>
#include "fi_dist.h"

int main(void)
{
    double abs_err = 0, rel_err = 0;
    for (uint32_t n = 0; n < (1u << 24); n++) {
        float c, s;
        fi_bm_angle_f32(n << 8, &c, &s);
        double th = 2 * M_PI * (double)n / 16777216.0, C = cos(th), S = sin(th);
        double ea = fmax(fabs(c - C), fabs(s - S)) / ldexp(1, -24);
        if (ea > abs_err) abs_err = ea;
        if (fabs(C) >= 1e-3) rel_err = fmax(rel_err, fabs(c - C) / fabs(C) / ldexp(1, -24));
        if (fabs(S) >= 1e-3) rel_err = fmax(rel_err, fabs(s - S) / fabs(S) / ldexp(1, -24));
    }
    printf("angle: abs error <= %.3f * 2^-24, rel error (|v| >= 1e-3) <= %.3f * 2^-24\n", abs_err, rel_err);
    double r_all = 0, r_big = 0;
    uint32_t x = 0;
    do {
        double want = sqrt(-2 * log(((double)x + 1) / 4294967296.0));
        if (want > 0) {
            double e = fabs(fi_bm_radius_f32(x) - want) / want / ldexp(1, -24);
            if (e > r_all) r_all = e;
            if (want >= 1.9 && e > r_big) r_big = e;
        }
        x++;
    } while (x != 0);
    printf("radius: rel error <= %.3f * 2^-24 (r >= 1.9: %.3f * 2^-24)\n", r_all, r_big);
    return 0;
}
