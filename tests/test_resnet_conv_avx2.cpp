// tests/test_resnet_conv_avx2.cpp: test_resnet_conv.cpp compiled with AVX-512 off (the AVX2 + FMA micro-kernel).
#include "test_resnet_conv.cpp"
