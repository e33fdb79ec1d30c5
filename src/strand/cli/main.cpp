#include "strand/cli/run.h"

int main(int argc, char** argv) {
  return strand::cli::run(argc, argv);
}
