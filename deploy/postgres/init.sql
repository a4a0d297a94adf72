-- The customer service keeps its own database beside the token service's.
CREATE DATABASE customers OWNER tessera;
