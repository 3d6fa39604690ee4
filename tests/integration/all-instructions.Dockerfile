# syntax=docker/dockerfile:1
# Every instruction that needs no container (tests/integration/test_build.sh checks the result).
ARG BASE=slipway-samples/busybox:latest
FROM ${BASE} AS base
ONBUILD LABEL triggered=yes

FROM scratch AS unused
COPY nothing-here /

FROM base AS files
ARG GREETING=hello
ENV APP=/app GREETING=${GREETING}
LABEL maintainer.name="slipway" version=1
WORKDIR $APP
COPY a.txt b.txt ./
COPY --chown=app:app --chmod=0640 dir/ data/
COPY --exclude=*.log dir/ filtered/
COPY --parents dir/sub/deep /parents/
COPY link hard.txt /links/
COPY <<EOF /app/heredoc.txt
${GREETING} from a heredoc
EOF
ADD arc.tar.xz /unpacked/
USER app
WORKDIR /home/app/work
EXPOSE 80 443/udp
VOLUME ["/data"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --retries=2 CMD ["/bin/true"]
SHELL ["/bin/sh", "-ec"]
CMD echo hi
ENTRYPOINT ["/bin/sh"]
MAINTAINER someone

