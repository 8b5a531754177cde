#!/usr/bin/env bash
# dtmf-spandsp-rx.sh DIR builds, in DIR, a small test program around
# spandsp's DTMF receiver (Debian libspandsp-dev) and prints its path. It is
# a reference for scripts/dtmf-compare.sh and the timing in BENCHMARKS.md,
# never part of sipphone: spandsp is LGPL and is only linked into this
# separate program, built from the system library at test time.
#
#   DIR/spandsp-dtmf-rx FILE    FILE is a WAV (8 kHz, 16-bit mono PCM) or raw
#                               signed 16-bit little-endian 8 kHz mono; "-"
#                               reads stdin. Prints the keys found, one line.
#
# Exits 1 when gcc or the spandsp headers are missing.
set -euo pipefail
dir="${1:?usage: $0 DIR}"
command -v gcc >/dev/null || exit 1
flags="$(pkg-config --cflags --libs spandsp 2>/dev/null)" || exit 1
cat >"$dir/spandsp-dtmf-rx.c" <<'C'
/* Test driver: the keys spandsp's DTMF receiver finds in a recording. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <spandsp.h>

static char keys[1 << 16];
static size_t nkeys;

static void got(void *user, const char *digits, int len)
{
    (void) user;
    for (int i = 0; i < len && nkeys + 1 < sizeof(keys); i++)
        keys[nkeys++] = digits[i];
}

/* skip_header leaves f at the first audio byte of a RIFF WAV file whose
   first 12 bytes are in head; returns 0 on success. */
static int skip_header(FILE *f)
{
    unsigned char c[8];
    while (fread(c, 1, 8, f) == 8) {
        uint32_t size = c[4] | c[5] << 8 | c[6] << 16 | (uint32_t) c[7] << 24;
        if (memcmp(c, "data", 4) == 0)
            return 0;
        for (uint32_t i = 0; i < size + (size & 1); i++)
            if (fgetc(f) == EOF)
                return -1;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.wav|FILE.raw|-\n", argv[0]);
        return 2;
    }
    FILE *f = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    static int16_t buf[4096];
    unsigned char head[12];
    size_t n = fread(head, 1, sizeof(head), f);
    dtmf_rx_state_t *rx = dtmf_rx_init(NULL, got, NULL);
    if (n == 12 && memcmp(head, "RIFF", 4) == 0 && memcmp(head + 8, "WAVE", 4) == 0) {
        if (skip_header(f) != 0) {
            fprintf(stderr, "%s: no data chunk\n", argv[1]);
            return 1;
        }
    } else {
        /* Raw input: the bytes read are audio. */
        memcpy(buf, head, n);
        dtmf_rx(rx, buf, (int) (n / 2));
    }
    while ((n = fread(buf, 2, sizeof(buf) / 2, f)) > 0)
        dtmf_rx(rx, buf, (int) n);
    /* Trailing silence lets a key that runs to the end be reported. */
    memset(buf, 0, sizeof(buf));
    dtmf_rx(rx, buf, 800);
    keys[nkeys] = '\0';
    printf("%s\n", keys);
    dtmf_rx_free(rx);
    return 0;
}
C
# shellcheck disable=SC2086
gcc -O2 -o "$dir/spandsp-dtmf-rx" "$dir/spandsp-dtmf-rx.c" $flags >&2 || exit 1
echo "$dir/spandsp-dtmf-rx"
