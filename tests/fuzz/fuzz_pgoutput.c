/*
 * fuzz_pgoutput.c - libFuzzer target for the pgoutput decoder and pgdecode.
 *
 * The input is split into messages of [2-byte big-endian length][bytes]
 * (the last one takes what is left), fed in order to one decoder, so the
 * fuzzer reaches stateful paths (Relation, then Begin, then changes). Each
 * message is copied to its own heap buffer of exactly its length, so ASan
 * sees any read past its end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "source/pg/pgdecode.h"
#include "source/pg/pgoutput.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pgd *d;
    struct cdc_err err;
    struct pgd_out out;
    size_t off = 0;

    if (pgd_create(&d, &err) != CDC_OK)
        return 0;
    while (off < size) {
        size_t n = size - off;
        uint8_t *msg;

        if (n >= 2) {
            size_t want = (size_t) data[off] << 8 | data[off + 1];

            off += 2;
            n = size - off;
            if (want < n)
                n = want;
        } else {
            off += n;
            break;
        }
        msg = malloc(n > 0 ? n : 1);
        if (msg == NULL)
            break;
        memcpy(msg, data + off, n);
        {
            /* protocol 2's decoder, in and out of a stream block (pure: no state) */
            struct pgo_msg m;

            (void) pgo_decode_v2(msg, n, true, &m, &err);
            (void) pgo_decode_v2(msg, n, false, &m, &err);
        }
        if (pgd_feed(d, msg, n, off, &out, &err) == CDC_OK && out.kind == PGD_CHANGES) {
            /* touch every value the changes point to */
            for (size_t i = 0; i < out.n_changes; i++) {
                const struct cdc_tuple *t[2] = {out.changes[i].before, out.changes[i].after};

                for (int k = 0; k < 2; k++)
                    for (uint32_t j = 0; t[k] != NULL && j < t[k]->nvals; j++)
                        if (t[k]->vals[j].state == CDC_VAL_PRESENT && t[k]->vals[j].len > 0)
                            (void) *(volatile const char *) &t[k]
                                ->vals[j]
                                .data[t[k]->vals[j].len - 1];
            }
        }
        free(msg);
        off += n;
    }
    pgd_destroy(d);
    return 0;
}
