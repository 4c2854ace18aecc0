#ifndef CUSTOMER_HEALTH_CZLIB_SHIM_H
#define CUSTOMER_HEALTH_CZLIB_SHIM_H
#include <zlib.h>
#include <stdlib.h>
#include <string.h>

// inflateInit2 and deflateInit2 are macros (they pass ZLIB_VERSION and the
// struct size), so Swift cannot call them: these wrappers can.

/// Gzip-only inflate (windowBits 15 + 16): a raw deflate or zlib stream is an error.
static inline int ch_inflate_init_gzip(z_stream *stream) {
    memset(stream, 0, sizeof(*stream));
    return inflateInit2(stream, 15 + 16);
}

/// Gzip output at the given level (1 fast ... 9 small).
static inline int ch_deflate_init_gzip(z_stream *stream, int level) {
    memset(stream, 0, sizeof(*stream));
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

/// The z_stream lives on the C heap: zlib keeps pointers to it in its state.
static inline z_stream *ch_zstream_allocate(void) {
    return (z_stream *)calloc(1, sizeof(z_stream));
}
#endif
