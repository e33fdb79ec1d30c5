#include "strand/core/error.h"

#include <cstdio>

int main() {
  std::puts("strand " STRAND_VERSION);
  return 0;
}
