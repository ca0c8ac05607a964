// ckimage: inspect and verify checkpoint images. The logic lives in image_json.cpp.
#include "image_json.hpp"

int main(int argc, char** argv) { return ck::img::ckimage_main(argc, argv); }
