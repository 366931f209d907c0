"""The HTTP side: app factory, routes, middleware, auth, the error mapping, schemas, request decoding."""
