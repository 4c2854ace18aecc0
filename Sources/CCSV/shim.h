#ifndef CUSTOMER_HEALTH_CCSV_SHIM_H
#define CUSTOMER_HEALTH_CCSV_SHIM_H
#include <csv.h>

// libcsv's option flags are macros; Swift imports them as Int32, the
// parser wants an unsigned char.
static inline unsigned char ch_csv_options_strict(void) {
    return (unsigned char)(CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
}
#endif
