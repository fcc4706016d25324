"""Rewrite the simulated CSV files in data/ from the helper package (``make data``)."""

from multilevel.data import write_simulated

if __name__ == "__main__":
    for path in write_simulated():
        print(f"wrote {path}")
