# Generates the C++ field table and the event protobuf from the one schema, then compiles the
# protobuf and gRPC code into the vigil_proto library.
set(VIGIL_SCHEMA ${CMAKE_SOURCE_DIR}/src/common/schema/events.toml)
set(VIGIL_SCHEMA_GEN ${CMAKE_SOURCE_DIR}/src/common/schema/gen_schema.py)
set(VIGIL_PROTO_GEN ${VIGIL_GEN_DIR}/proto)

add_custom_command(
  OUTPUT ${VIGIL_GEN_DIR}/common/schema_generated.hpp ${VIGIL_GEN_DIR}/common/schema_generated.cpp
         ${VIGIL_PROTO_GEN}/vigil/v1/event.proto
  COMMAND ${Python3_EXECUTABLE} ${VIGIL_SCHEMA_GEN} ${VIGIL_SCHEMA}
          --cpp-dir ${VIGIL_GEN_DIR} --proto ${VIGIL_PROTO_GEN}/vigil/v1/event.proto
  DEPENDS ${VIGIL_SCHEMA} ${VIGIL_SCHEMA_GEN}
  COMMENT "Generating schema code from events.toml")

# Rewrites the checked-in proto/vigil/v1/event.proto and docs/schema.md (a test checks they match).
add_custom_target(schema-files
  COMMAND ${Python3_EXECUTABLE} ${VIGIL_SCHEMA_GEN} ${VIGIL_SCHEMA}
          --proto ${CMAKE_SOURCE_DIR}/proto/vigil/v1/event.proto --doc ${CMAKE_SOURCE_DIR}/docs/schema.md)

configure_file(${CMAKE_SOURCE_DIR}/proto/vigil/v1/gateway.proto ${VIGIL_PROTO_GEN}/vigil/v1/gateway.proto COPYONLY)

set(VIGIL_PROTO_SRCS)
foreach(name event gateway)
  set(out ${VIGIL_GEN_DIR}/vigil/v1/${name})
  list(APPEND VIGIL_PROTO_SRCS ${out}.pb.cc)
  set(outputs ${out}.pb.cc ${out}.pb.h)
  set(grpc_args)
  if(name STREQUAL "gateway")
    list(APPEND outputs ${out}.grpc.pb.cc ${out}.grpc.pb.h)
    list(APPEND VIGIL_PROTO_SRCS ${out}.grpc.pb.cc)
    set(grpc_args --grpc_out=${VIGIL_GEN_DIR} --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
  endif()
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND protobuf::protoc -I${VIGIL_PROTO_GEN} --cpp_out=${VIGIL_GEN_DIR} ${grpc_args}
            ${VIGIL_PROTO_GEN}/vigil/v1/${name}.proto
    DEPENDS ${VIGIL_PROTO_GEN}/vigil/v1/${name}.proto ${VIGIL_PROTO_GEN}/vigil/v1/event.proto
    COMMENT "protoc ${name}.proto")
endforeach()

add_library(vigil_proto STATIC ${VIGIL_PROTO_SRCS} ${VIGIL_GEN_DIR}/common/schema_generated.cpp)
target_include_directories(vigil_proto PUBLIC ${VIGIL_GEN_DIR} ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(vigil_proto PUBLIC protobuf::libprotobuf gRPC::grpc++)
target_compile_options(vigil_proto PRIVATE -Wno-unused-parameter)
