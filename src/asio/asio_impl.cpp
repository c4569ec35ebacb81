// The one translation unit that compiles Asio, Asio.SSL and Beast.
// Every other file includes their headers with *_SEPARATE_COMPILATION
// defined (see CMakeLists.txt) and links against this object.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>

// Beast's core and HTTP parts, the ones setlist uses: not <boost/beast/src.hpp>,
// whose WebSocket, zlib and test-stream parts doubled this file's compile
// time (bench/RESULTS.md, "Demo cold build"). A program that uses more of
// Beast fails to link, naming the missing part: add its .ipp here.
#define BOOST_BEAST_SOURCE  // as <boost/beast/src.hpp> does: the explicit instantiations
#include <boost/beast/core/detail/config.hpp>
#include <boost/beast/core/detail/impl/temporary_buffer.ipp>
#include <boost/beast/core/impl/error.ipp>
#include <boost/beast/core/impl/file_posix.ipp>
#include <boost/beast/core/impl/file_stdio.ipp>
#include <boost/beast/core/impl/flat_static_buffer.ipp>
#include <boost/beast/core/impl/saved_handler.ipp>
#include <boost/beast/core/impl/static_buffer.ipp>
#include <boost/beast/core/impl/string.ipp>
#include <boost/beast/http/detail/basic_parser.ipp>
#include <boost/beast/http/detail/rfc7230.ipp>
#include <boost/beast/http/impl/basic_parser.ipp>
#include <boost/beast/http/impl/error.ipp>
#include <boost/beast/http/impl/field.ipp>
#include <boost/beast/http/impl/fields.ipp>
#include <boost/beast/http/impl/rfc7230.ipp>
#include <boost/beast/http/impl/status.ipp>
#include <boost/beast/http/impl/verb.ipp>
