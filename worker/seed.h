/* seed.h: the evaluation seed of a task, derived from the server secret and
 * the task id with SipHash-2-4 (a keyed PRF), so a solution cannot predict
 * its inputs without the secret, while every worker that shares the secret
 * derives the same seed for the same task. Pure functions: thread-safe.
 */
#ifndef KF_SEED_H
#define KF_SEED_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of msg[0..len) under the 128-bit key k. */
uint64_t wk_siphash(const uint8_t k[16], const void *msg, size_t len);

/* The task seed: key = (SipHash of the secret under two fixed keys), then
 * SipHash of "kernelfarm-task-seed\0" + task_id under that key. */
uint64_t wk_seed_derive(const char *secret, const char *task_id);

#endif
