/*
 * mixup_api.h — MIXUP_API, the visibility of libmixup's exported symbols,
 * shared by the public headers (mixup.h, mixup_errors.h). Installed with
 * them; a user never includes it directly.
 */
#ifndef MIXUP_API_H
#define MIXUP_API_H

#if defined(MIXUP_BUILDING_LIBRARY) && defined(__GNUC__)
#define MIXUP_API __attribute__((visibility("default")))
#else
#define MIXUP_API
#endif

#endif /* MIXUP_API_H */
