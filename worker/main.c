/*
 * mao-worker: runs tools for the coordinator at one site.
 * (Filled in by the "run a tool at a site" work; this prints its help.)
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)) {
        printf("mao-worker %s\n", MAO_VERSION);
        return 0;
    }
    fprintf(argc > 1 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
            "Usage: mao-worker [-c FILE]\n\nRuns tools for the coordinator at one site.\n");
    return argc > 1 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
