#include "userns.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

bool
sw_in_user_namespace(void)
{
    int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return n == 0; /* an empty map: a new user namespace whose map is not written yet */
    buf[n] = '\0';
    unsigned long inside, outside, count;
    char rest;
    /* the initial namespace maps every id to itself, in one line */
    int k = sscanf(buf, " %lu %lu %lu %c", &inside, &outside, &count, &rest);
    return !(k == 3 && inside == 0 && outside == 0 && count == 4294967295UL);
}
