/*
 * lsn.h - PostgreSQL log sequence numbers: type, printing and parsing.
 */
#ifndef CDC_CORE_LSN_H
#define CDC_CORE_LSN_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint64_t cdc_lsn;

#define CDC_LSN_INVALID ((cdc_lsn) 0)
/* printf("at " CDC_LSN_FMT, CDC_LSN_ARGS(lsn)), as PostgreSQL's LSN_FORMAT_ARGS */
#define CDC_LSN_FMT       "%X/%X"
#define CDC_LSN_ARGS(lsn) ((unsigned) ((lsn) >> 32)), ((unsigned) (lsn))
/* enough for "FFFFFFFF/FFFFFFFF" and the terminator */
#define CDC_LSN_STRLEN 18

/* Parse "16/B374D848" into *out. Returns false on anything else. */
bool cdc_lsn_parse(const char *s, cdc_lsn *out);

#endif
