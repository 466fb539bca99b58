/*
 * fuzz_check_pack.c — the pack reader (server/data/pack_format.c) over
 * untrusted bytes: what pk_check_file() accepts must be safe to use as the
 * loader uses it (every region inside the file, samples in order and not
 * overlapping, names terminated) and must encode back to the same header;
 * a refusal must say why.
 */
#include <string.h>

#include "fuzz_check.h"
#include "mixup_errors.h"
#include "pack_format.h"

static int check_accepted(const uint8_t *data, size_t len, const pk_header *h,
                          char *why, size_t whylen)
{
    uint8_t again[PK_HEADER_BYTES];
    pk_encode_header(h, again);
    if (memcmp(again, data, PK_HEADER_BYTES) != 0)
        return fz_bad(why, whylen, "accepted header encodes differently");
    if (h->data_off + h->data_len > len || h->index_off + h->index_len > len ||
        h->names_off + h->names_len > len || h->data_off % PK_PAGE)
        return fz_bad(why, whylen, "accepted a section outside the file");
    if (h->names_len && data[h->names_off + h->names_len - 1] != 0)
        return fz_bad(why, whylen, "accepted unterminated names");
    uint64_t end = 0;
    for (uint64_t i = 0; h->kind == PK_ENCODED && i < h->n; i++) {
        pk_entry e;
        pk_decode_entry(data + h->index_off + i * PK_ENTRY_BYTES, &e);
        if (e.offset < end || e.offset + e.length > h->data_len ||
            e.length == 0 || e.label < 0 || (uint32_t)e.label >= h->classes ||
            e.path >= h->names_len)
            return fz_bad(why, whylen, "accepted a bad entry %llu",
                          (unsigned long long)i);
        uint8_t enc[PK_ENTRY_BYTES];
        pk_encode_entry(&e, enc);
        if (memcmp(enc, data + h->index_off + i * PK_ENTRY_BYTES, 27) != 0)
            return fz_bad(why, whylen, "entry %llu encodes differently",
                          (unsigned long long)i);
        end = e.offset + e.length;
    }
    if (h->kind == PK_ARRAY && pk_array_bytes(h, NULL) != h->data_len)
        return fz_bad(why, whylen, "accepted array data of a wrong size");
    return 0;
}

int fz_check_pack(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    pk_header h;
    char err[512] = "";
    int rc = pk_check_file(data, len, &h, err, sizeof err);
    if (rc == 0)
        return check_accepted(data, len, &h, why, whylen);
    if (rc != MIXUP_EDATASET)
        return fz_bad(why, whylen, "refused with code %d", rc);
    if (!err[0] || strlen(err) >= sizeof err - 1)
        return fz_bad(why, whylen, "refused without a readable reason");
    return 0;
}
