# attack: leave a full-marks program in every folder all users may write (/run/lock, /tmp, /dev/shm ...), for the next student to run
# honest: 0 it serves nothing of its own; what it plants must be gone before anyone else runs
# proof: ATTACK planted
import os

PROGRAM = "raise SystemExit('planted by another student: run from a folder that outlived its run')\n"
planted = []
for folder in ("/run/lock", "/var/lock", "/tmp", "/var/tmp", "/dev/shm", "/run"):
    try:
        with open(os.path.join(folder, "ticketrail-attack-plant.py"), "w") as plant:
            plant.write(PROGRAM)
        planted.append(folder)
    except OSError:
        pass
print(f"ATTACK planted in {planted}", flush=True)
raise SystemExit("ATTACK plant: done; this submission serves no app")
