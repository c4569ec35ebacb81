// The one translation unit that compiles Asio, Asio.SSL and Beast.
// Every other file includes their headers with *_SEPARATE_COMPILATION
// defined (see CMakeLists.txt) and links against this object.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
