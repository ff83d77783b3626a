// tests/test_resnet_conv_portable.cpp: test_resnet_conv.cpp compiled with AVX off (the portable micro-kernel).
#include "test_resnet_conv.cpp"
