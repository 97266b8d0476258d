#!/usr/bin/env bash
# Grade a class on a Slurm cluster: SHARDS array tasks, then the report once every task has succeeded.
#   deploy/slurm/grade-class.sh SUBMISSIONS RESULTS [SHARDS]
# Run it from the kit's folder on a shared file system, with the kit's venv active (ticketrail on PATH),
# as root on the nodes if the student programs are to run in the sandbox (see docs/grading.md).
set -euo pipefail
submissions="${1:?usage: grade-class.sh SUBMISSIONS RESULTS [SHARDS]}"
results="${2:?usage: grade-class.sh SUBMISSIONS RESULTS [SHARDS]}"
shards="${3:-8}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
array=$(sbatch --parsable --array="1-$shards" "$here/grade-shard.sbatch" "$submissions" "$results")
sbatch --parsable --dependency="afterok:${array%%;*}" "$here/report.sbatch" "$results"
echo "Submitted shards as job $array; the report runs when they have all succeeded. Results in $results/."
