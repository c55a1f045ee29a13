/* Colour tables written from their formulas (aia_lct.pro by K. Schrijver, as sunpy documents it,
 * and IDL table 3), so no table data has to be shipped or kept in sync. */
#include "core/out/colormap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The basis ramps of the AIA tables, as floats in 0..255 at level i. */
static double c0(int i) { return i; }
static double c1(int i) { return sqrt((double)i) * sqrt(255.0); }
static double c2(int i) { return (double)i * i / 255.0; }
static double c3(int i) { return (c1(i) + c2(i) / 2.0) * 255.0 / (255.0 + 255.0 / 2.0); }

/* IDL table 3: red ramps up over levels 0..176, green over 120..255, blue over 190..255, each
 * truncated to an integer as the IDL table stores them. */
static double r0(int i) { return i >= 176 ? 255 : (i * 255) / 176; }
static double g0(int i) { return i <= 120 ? 0 : ((i - 120) * 255) / 135; }
static double b0(int i) { return i <= 190 ? 0 : ((i - 190) * 255) / 65; }
static double half_b0(int i) { return b0(i) / 2.0; }

typedef double (*ramp_fn)(int);

static uint8_t to_byte(double v)
{
    if (!(v > 0))
        return 0;
    if (v >= 255)
        return 255;
    return (uint8_t)lround(v);
}

static void fill(ff_colormap *cm, const char *name, ramp_fn r, ramp_fn g, ramp_fn b)
{
    snprintf(cm->name, sizeof cm->name, "%s", name);
    for (int i = 0; i < 256; i++) {
        cm->rgb[i][0] = to_byte(r(i));
        cm->rgb[i][1] = to_byte(g(i));
        cm->rgb[i][2] = to_byte(b(i));
    }
}

int ff_colormap_aia(int wavelength, ff_colormap *cm)
{
    static const struct {
        int wl;
        ramp_fn r, g, b;
    } tab[] = {
        {94, c2, c3, c0},   {131, g0, r0, r0},  {171, r0, c0, b0},   {193, c1, c0, c2},
        {211, c1, c0, c3},  {304, r0, g0, b0},  {335, c2, c0, c1},   {1600, c3, c3, c2},
        {1700, c1, c0, c0}, {4500, c0, c0, half_b0},
    };
    for (size_t k = 0; k < sizeof tab / sizeof tab[0]; k++) {
        if (tab[k].wl == wavelength) {
            char name[32];
            snprintf(name, sizeof name, "sdoaia%d", wavelength);
            fill(cm, name, tab[k].r, tab[k].g, tab[k].b);
            return 0;
        }
    }
    return -1;
}

void ff_colormap_heat(ff_colormap *cm)
{
    fill(cm, "heat", r0, g0, b0);
}

void ff_colormap_gray(ff_colormap *cm)
{
    fill(cm, "gray", c0, c0, c0);
}

int ff_colormap_by_name(const char *name, ff_colormap *cm)
{
    if (!name)
        return -1;
    if (strcmp(name, "heat") == 0) {
        ff_colormap_heat(cm);
        return 0;
    }
    if (strcmp(name, "gray") == 0) {
        ff_colormap_gray(cm);
        return 0;
    }
    if (strncmp(name, "sdoaia", 6) == 0 && name[6] >= '1' && name[6] <= '9' &&
        strspn(name + 6, "0123456789") == strlen(name + 6) && strlen(name + 6) <= 4)
        return ff_colormap_aia(atoi(name + 6), cm);
    return -1;
}

static int is(const char *s, const char *want)
{
    return s && strcasecmp(s, want) == 0;
}

void ff_colormap_for(const char *instrument, const char *measurement, int wavelength,
                     ff_colormap *cm)
{
    if (measurement && strcasestr(measurement, "magnetogram")) {
        ff_colormap_gray(cm);
        return;
    }
    if (is(instrument, "AIA") && ff_colormap_aia(wavelength, cm) == 0)
        return;
    if (is(instrument, "EIT") || is(instrument, "EUVI") || is(instrument, "SUVI") ||
        is(instrument, "SWAP")) {
        int wl = wavelength == 195 ? 193 : wavelength == 284 ? 335 : wavelength == 174 ? 171
                                                                                        : wavelength;
        if (ff_colormap_aia(wl, cm) == 0)
            return;
    }
    ff_colormap_heat(cm);
}
