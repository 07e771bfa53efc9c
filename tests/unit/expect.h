/*
 * The unit tests' one assertion: EXPECT counts a pass or prints the failed
 * condition with its place, and each test ends by printing "N passed,
 * M failed" (the line tests/run-unit.sh adds up).
 */
#ifndef PGSLUICE_TESTS_EXPECT_H
#define PGSLUICE_TESTS_EXPECT_H

#include <stdio.h>

static int passed, failed;

#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__,        \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#endif
