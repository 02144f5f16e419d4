"""The five programs' IDLs as layout tables (``solflow.domain.decode.layout``), one module per program."""
