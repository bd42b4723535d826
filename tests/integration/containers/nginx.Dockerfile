# A stand-in for the official nginx image (nginx:1.27-bookworm in docker/compose.yml) where no
# registry is reachable: Debian's nginx laid out the same way (the server in conf.d/default.conf,
# graceful stop on SIGQUIT, logs to the container's output), plus curl for compose's health check.
ARG BASE_IMAGE=localhost/cellposeweb-base:bookworm
FROM ${BASE_IMAGE}
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends nginx curl ca-certificates; \
    rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/*; \
    ln -sf /dev/stdout /var/log/nginx/access.log; \
    ln -sf /dev/stderr /var/log/nginx/error.log
STOPSIGNAL SIGQUIT
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
